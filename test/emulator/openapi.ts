/**
 * Requests and responses checked against DigitalOcean's published OpenAPI
 * spec: the operations swarmbee uses, trimmed from digitalocean/openapi into
 * test/fixtures/digitalocean-openapi (source commit and licence there). The
 * emulator refuses what the spec's request schemas refuse, and flags its own
 * responses when they break the response schemas.
 *
 * Path segments are checked raw, never percent-decoded (see the emulator's
 * route): `swarmbee-role%3Amanager` does not match the tag name pattern.
 */
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv';
import ajvFormats from 'ajv-formats';
import {packageRoot} from '../../source/paths.js';

interface Parameter {
	in: 'path' | 'query' | 'header';
	name: string;
	required?: boolean;
	schema: object;
}

interface Operation {
	operationId: string;
	parameters?: Parameter[];
	requestBody?: {required?: boolean; content: Record<string, {schema: object}>};
	responses: Record<string, {content?: Record<string, {schema: object}>}>;
	security?: Array<Record<string, string[]>>;
}

interface Document {
	'x-source': {commit: string};
	paths: Record<string, Record<string, Operation>>;
}

/** What a request broke, and where: `body`, `query`, `path` or the operation itself. */
export interface Violation {
	in: 'operation' | 'path' | 'query' | 'body';
	/** The first field named, e.g. `names[0]` or `per_page`. */
	field: string;
	message: string;
}

/** An operation of the spec, as the emulator needs it. */
export interface SpecOperation {
	id: string;
	/** The path template, e.g. `/v2/tags/{tag_id}`. */
	template: string;
	method: string;
	/** Response statuses the spec documents (`default` aside). */
	statuses: number[];
	/** Whether the spec's 400 for it has the `{error, messages, root_causes}` shape. */
	rootCauses400: boolean;
	/** The token scopes it needs. */
	scopes: string[];
}

const file = path.join(packageRoot(), 'test/fixtures/digitalocean-openapi/openapi.json');
let loaded:
	| {doc: Document; ajv: Ajv; coercing: Ajv; routes: Array<{template: string; pattern: RegExp; params: number}>}
	| undefined;

function spec(): NonNullable<typeof loaded> {
	if (loaded) return loaded;
	const doc = JSON.parse(readFileSync(file, 'utf8')) as Document;
	// Two validators: bodies as sent (JSON types), parameters coerced from strings.
	// The spec's patterns escape `:` and `-`, which unicode-mode RegExps refuse.
	const make = (coerceTypes: boolean) => {
		const ajv = new Ajv({strict: false, allErrors: true, validateSchema: false, coerceTypes, unicodeRegExp: false});
		ajvFormats.default(ajv);
		for (const format of ['float', 'double', 'int32', 'int64']) ajv.addFormat(format, true);
		ajv.addSchema(doc as object, 'openapi.json');
		return ajv;
	};
	const routes = Object.keys(doc.paths)
		.map(template => ({
			template,
			pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '([^/]+)')}$`),
			params: (template.match(/\{/g) ?? []).length,
		}))
		.sort((a, b) => a.params - b.params);
	loaded = {doc, ajv: make(false), coercing: make(true), routes};
	return loaded;
}

/**
 * Compiles every validator now rather than at first use, so that the first
 * request of each kind is not slower than the rest (tests time boots).
 */
export function compileAll(): void {
	const {doc} = spec();
	for (const [template, methods] of Object.entries(doc.paths)) {
		for (const [method, operation] of Object.entries(methods)) {
			const example = template.replace(/\{[^}]+\}/g, '1');
			checkRequest({method, path: example, query: new URLSearchParams(), body: operation.requestBody ? {} : undefined});
			for (const status of Object.keys(operation.responses))
				checkResponse(method, example, status === 'default' ? 599 : Number(status), {});
		}
	}
}

/** The spec commit the fixture was trimmed from. */
export function specCommit(): string {
	return spec().doc['x-source'].commit;
}

const pointer = (...parts: string[]) =>
	`openapi.json#/${parts.map(p => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`;
const compiled = new Map<string, ValidateFunction>();

/**
 * A validator for `schema`, compiled once per distinct schema: the error
 * responses of every operation are one schema, compiled once.
 */
function validator(ajv: Ajv, schema: object, same: unknown): ValidateFunction {
	const key = `${ajv === spec().ajv ? 'body' : 'params'} ${JSON.stringify(same)}`;
	let validate = compiled.get(key);
	if (!validate) {
		validate = ajv.compile(schema);
		compiled.set(key, validate);
	}
	return validate;
}

function find(method: string, rawPath: string): {template: string; operation: Operation; values: string[]} | undefined {
	const {doc, routes} = spec();
	for (const route of routes) {
		const match = route.pattern.exec(rawPath);
		const operation = doc.paths[route.template]?.[method.toLowerCase()];
		if (match && operation) return {template: route.template, operation, values: match.slice(1)};
	}
	return undefined;
}

/** The spec's operation for a request, if the fixture has it. */
export function specOperation(method: string, rawPath: string): SpecOperation | undefined {
	const found = find(method, rawPath.replace(/\/+$/, ''));
	if (!found) return undefined;
	const {operation, template} = found;
	const bad = operation.responses['400']?.content?.['application/json']?.schema as
		| {$ref?: string; required?: string[]}
		| undefined;
	return {
		id: operation.operationId,
		template,
		method: method.toUpperCase(),
		statuses: Object.keys(operation.responses)
			.filter(s => /^\d+$/.test(s))
			.map(Number),
		rootCauses400: Boolean(bad && (bad.required?.includes('root_causes') || /root_causes/.test(bad.$ref ?? ''))),
		scopes: (operation.security ?? []).flatMap(s => Object.values(s).flat()),
	};
}

/** ajv's errors in words: the most specific ones (deepest in the data), one line, and the first field they name. */
function describe(errors: ErrorObject[], root: string): {field: string; message: string} {
	const field = (instancePath: string, extra?: string) => {
		const parts = [...instancePath.split('/').filter(Boolean), ...(extra ? [extra] : [])].map(p =>
			p.replaceAll('~1', '/').replaceAll('~0', '~'),
		);
		const name = parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : `${i > 0 ? '.' : ''}${p}`)).join('');
		return name || root;
	};
	const depth = (e: ErrorObject) => e.instancePath.split('/').length;
	const deepest = Math.max(...errors.map(depth));
	let chosen = errors.filter(e => depth(e) === deepest);
	const specific = chosen.filter(e => !['anyOf', 'oneOf', 'allOf', 'if'].includes(e.keyword));
	if (specific.length > 0) chosen = specific;
	const types = [
		...new Set(chosen.filter(e => e.keyword === 'type').map(e => String((e.params as {type: string}).type))),
	];
	const lines = new Set<string>();
	const first = chosen[0]!;
	const firstField = field(
		first.instancePath,
		first.keyword === 'required' ? (first.params as {missingProperty: string}).missingProperty : undefined,
	);
	if (types.length > 0)
		lines.add(`${field(chosen.find(e => e.keyword === 'type')!.instancePath)} must be ${types.join(' or ')}`);
	for (const e of chosen) {
		if (e.keyword === 'type') continue;
		if (e.keyword === 'required')
			lines.add(`${field(e.instancePath, (e.params as {missingProperty: string}).missingProperty)} is required`);
		else if (e.keyword === 'enum')
			lines.add(
				`${field(e.instancePath)} must be one of ${(e.params as {allowedValues: unknown[]}).allowedValues.join(', ')}`,
			);
		else lines.add(`${field(e.instancePath)} ${e.message ?? `breaks ${e.keyword}`}`);
	}
	return {field: firstField, message: [...lines].join('; ')};
}

/**
 * What a request breaks of the spec: its operation must exist, its path
 * parameters (raw) and query parameters (as strings, coerced) and its JSON
 * body must match their schemas. Empty when it conforms.
 */
export function checkRequest(request: {
	method: string;
	path: string;
	query: URLSearchParams;
	body: unknown;
}): Violation[] {
	const rawPath = request.path.replace(/\/+$/, '');
	const found = find(request.method, rawPath);
	if (!found)
		return [
			{in: 'operation', field: '', message: `${request.method} ${rawPath} is not an operation of the spec fixture`},
		];
	const {template, operation, values} = found;
	const method = request.method.toLowerCase();
	const {ajv, coercing} = spec();
	const violations: Violation[] = [];
	const names = [...template.matchAll(/\{([^}]+)\}/g)].map(m => m[1]!);
	const params = operation.parameters ?? [];
	for (const where of ['path', 'query'] as const) {
		const declared = params.filter(p => p.in === where);
		if (declared.length === 0) continue;
		const data: Record<string, unknown> =
			where === 'path'
				? Object.fromEntries(names.map((name, i) => [name, values[i]]))
				: Object.fromEntries([...request.query].filter(([name]) => declared.some(p => p.name === name)));
		const required = declared.filter(p => p.required || where === 'path').map(p => p.name);
		const validate = validator(
			coercing,
			{
				type: 'object',
				properties: Object.fromEntries(
					declared.map(p => [
						p.name,
						{$ref: pointer('paths', template, method, 'parameters', String(params.indexOf(p)), 'schema')},
					]),
				),
				required,
			},
			[declared.map(p => [p.name, p.schema]), required],
		);
		if (!validate(data)) violations.push({in: where, ...describe(validate.errors ?? [], where)});
	}
	const content = operation.requestBody?.content['application/json'];
	if (content) {
		if (request.body === undefined) {
			if (operation.requestBody?.required)
				violations.push({in: 'body', field: '', message: 'a JSON request body is required'});
		} else {
			const validate = validator(
				ajv,
				{$ref: pointer('paths', template, method, 'requestBody', 'content', 'application/json', 'schema')},
				content.schema,
			);
			if (!validate(request.body))
				violations.push({in: 'body', ...describe(validate.errors ?? [], 'the request body')});
		}
	}
	return violations;
}

/** What a response breaks of the spec's schema for its status (or `default`); empty when it conforms. */
export function checkResponse(method: string, rawPath: string, status: number, body: unknown): string[] {
	const found = find(method, rawPath.replace(/\/+$/, ''));
	if (!found) return [];
	const {template, operation} = found;
	const key = operation.responses[String(status)] ? String(status) : 'default';
	const schema = operation.responses[key]?.content?.['application/json']?.schema;
	if (!operation.responses[key]) return [`${status} is not a response the spec documents for ${method} ${template}`];
	if (!schema) return body === undefined ? [] : [`${status} has no body in the spec, but one was sent`];
	const validate = validator(
		spec().ajv,
		{$ref: pointer('paths', template, method.toLowerCase(), 'responses', key, 'content', 'application/json', 'schema')},
		schema,
	);
	return validate(body) ? [] : [describe(validate.errors ?? [], 'the response body').message];
}
