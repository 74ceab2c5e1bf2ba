import {describe, expect, it} from 'vitest';
import {parseResponse} from '../../source/backup/raw-cursor.js';

describe("parseResponse: a batch's documents found by their boundaries, never parsed", () => {
	const documents = [
		{id: 1, s: 'a "quoted" ] } [ {', back: 'ends with \\', nested: {a: [1, {b: null}], c: true}},
		{id: 'two', at: {$reql_type$: 'TIME', epoch_time: 1.5, timezone: '+00:00'}, e: 'é'},
		{id: 3, empty: [], o: {}, n: -1.5e-7},
	];

	it('gives each document of r exactly as the server wrote it, whatever keys come around it', () => {
		for (const text of [
			`{"t":3,"r":[${documents.map(d => JSON.stringify(d)).join(',')}],"n":[]}`,
			`{"t": 2, "n": [], "r": [ ${documents.map(d => JSON.stringify(d)).join(' , ')} ], "p": [{"x": "]"}]}`,
		]) {
			const bytes = Buffer.from(text);
			const parsed = parseResponse(bytes);
			expect(parsed.type).toBe(text.includes('"t":3') ? 3 : 2);
			expect(parsed.documents.map(([start, end]) => JSON.parse(bytes.toString('utf8', start, end)))).toEqual(documents);
		}
	});

	it('reads an empty batch and an error, with its message', () => {
		expect(parseResponse(Buffer.from('{"t":2,"r":[]}'))).toEqual({type: 2, documents: []});
		expect(parseResponse(Buffer.from('{"t":18,"e":4100000,"r":["Table `app.x` does not exist."],"b":[]}'))).toEqual({
			type: 18,
			documents: [],
			error: 'Table `app.x` does not exist.',
		});
	});

	it('refuses what is not a response', () => {
		expect(() => parseResponse(Buffer.from('[1,2]'))).toThrow(/not a JSON object/);
		expect(() => parseResponse(Buffer.from('{"t":3,"r":["abc'))).toThrow(/ends inside a string/);
	});
});
