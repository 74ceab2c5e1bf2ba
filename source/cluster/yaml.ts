/**
 * A small YAML writer for the stack file: block mappings and sequences,
 * scalars quoted as JSON strings (valid YAML), so what swarmbee writes is
 * both readable and exactly what it means.
 */

type Value = string | number | boolean | null | Value[] | {[key: string]: Value | undefined};

const PLAIN_KEY = /^[A-Za-z0-9_.-]+$/;

function scalar(value: string | number | boolean | null): string {
	if (value === null) return 'null';
	if (typeof value === 'number' || typeof value === 'boolean') return String(value);
	return JSON.stringify(value);
}

function key(name: string): string {
	return PLAIN_KEY.test(name) ? name : JSON.stringify(name);
}

function isEmpty(value: Value): boolean {
	return (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);
}

/** A value written on its key's or dash's own line: a scalar, or an empty list or map. */
function inline(value: Value): string {
	return isEmpty(value) ? (Array.isArray(value) ? '[]' : '{}') : scalar(value as string);
}

function emit(value: Value, indent: string, lines: string[]): void {
	if (Array.isArray(value)) {
		for (const item of value) {
			if (typeof item === 'object' && item !== null && !isEmpty(item)) {
				const nested: string[] = [];
				emit(item, `${indent}  `, nested);
				lines.push(`${indent}- ${nested[0]!.trimStart()}`, ...nested.slice(1));
			} else {
				lines.push(`${indent}- ${inline(item as Value)}`);
			}
		}
		return;
	}
	if (typeof value === 'object' && value !== null) {
		for (const [name, child] of Object.entries(value)) {
			if (child === undefined) continue;
			if (typeof child === 'object' && child !== null && !isEmpty(child)) {
				lines.push(`${indent}${key(name)}:`);
				emit(child, `${indent}  `, lines);
			} else {
				lines.push(`${indent}${key(name)}: ${inline(child as Value)}`);
			}
		}
		return;
	}
	lines.push(`${indent}${scalar(value)}`);
}

export function toYaml(value: Value): string {
	const lines: string[] = [];
	emit(value, '', lines);
	return `${lines.join('\n')}\n`;
}

export type {Value as YamlValue};
