import {execFileSync} from 'node:child_process';
import {afterAll, expect, it} from 'vitest';
import {aptInstall} from '../../source/providers/digitalocean/user-data.js';
import {describeWithEngine, uniqueName} from './helpers.js';

/**
 * The first boot's apt step run in a real debian:bookworm container while
 * another process holds apt's locks, as unattended-upgrades and apt-daily
 * do on a fresh droplet (issue 28, item 5): it must wait, then install.
 */
const container = uniqueName('e2e-do-aptlock');

/**
 * Holds apt's lists lock and dpkg's frontend lock (fcntl write locks, as apt
 * takes them) for `seconds`, then lets go. perl is in every Debian image.
 */
const holdLocks = (seconds: number) =>
	`perl -e 'use Fcntl; $| = 1; my @f; for my $p ("/var/lib/apt/lists/lock", "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock") { open(my $fh, ">>", $p) or die; my $l = pack("ssx4qqix4", F_WRLCK, 0, 0, 0, 0); fcntl($fh, F_SETLK, $l) or die "lock $p: $!"; push @f, $fh } print "held\\n"; sleep ${seconds};'`;

describeWithEngine('first boot waits for the package lock', () => {
	afterAll(() => {
		execFileSync('docker', ['rm', '-f', container], {stdio: 'ignore'});
	});

	it('installs with apt while unattended-upgrades holds the locks for a while', () => {
		execFileSync('docker', ['run', '-d', '--name', container, 'debian:bookworm', 'sleep', '600'], {stdio: 'ignore'});
		const script = `set -eu
${holdLocks(20)} > /tmp/holder.log 2>&1 &
while ! grep -q held /tmp/holder.log 2>/dev/null; do sleep 0.2; done
# Without waiting, apt gives up at once while the lock is held:
if apt-get update -q >/tmp/nowait.log 2>&1; then echo "apt did not see the lock"; exit 3; fi
grep -q 'Could not get lock' /tmp/nowait.log
start=$(date +%s)
${aptInstall(['hello'], 120)}
echo "waited $(( $(date +%s) - start ))"
hello`;
		const out = execFileSync('docker', ['exec', container, 'sh', '-c', script], {encoding: 'utf8', timeout: 300_000});
		expect(out).toContain('Hello, world!');
		const waited = Number(/waited (\d+)/.exec(out)?.[1]);
		expect(waited).toBeGreaterThanOrEqual(10);
	});
});
