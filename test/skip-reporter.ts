import {execFileSync} from 'node:child_process';
import type {Reporter, TestModule} from 'vitest/node';

/**
 * Says, in one line at the end of `npm test`, how many end-to-end tests
 * were skipped and why, so a run without a Docker engine never looks like a
 * full pass. (In CI a missing engine is a failure, not a skip: see
 * test/e2e/helpers.ts.)
 */
export default class SkipReporter implements Reporter {
	onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
		const e2e = modules.filter(module => module.project.name === 'e2e');
		const skipped = e2e.flatMap(module => [...module.children.allTests('skipped')]);
		if (skipped.length === 0 || engineAnswers()) return;
		const files = new Set(skipped.map(test => test.module.moduleId)).size;
		process.stdout.write(
			`\n${skipped.length} end-to-end tests in ${files} files were skipped: no Docker engine answers \`docker info\` here. Start one (on the CI test bed: ../shared/testbed/docker-engine.sh) and run npm test again; see docs/testing.md.\n`,
		);
	}
}

function engineAnswers(): boolean {
	try {
		execFileSync('docker', ['info'], {stdio: 'ignore', timeout: 20_000});
		return true;
	} catch {
		return false;
	}
}
