import { describe, expect, it } from 'vitest';
import { parseConfigText } from './parse.js';

const FILE = '/home/ada/.config/hpc-jupyter/clusters.yaml';
const DISPLAY = '~/.config/hpc-jupyter/clusters.yaml';

function parse(text: string) {
  return parseConfigText(text, FILE, { displayPath: DISPLAY });
}

/** Joins lines so tests can count them: line N of the file is element N-1. */
function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

const FULL = yaml(
  'clusters:',
  '  testlab:',
  '    title: Test lab (4 Slurm nodes)',
  '    scheduler: slurm',
  '    ssh:',
  '      host: 127.0.0.1',
  '      port: 2222',
  '      user: hpcjtest',
  '      identityFile: ~/.ssh/id_ed25519',
  '      proxyJump: bastion',
  '      knownHostsFile: /tmp/known_hosts',
  '      configFile: ~/.ssh/config',
  '      keepaliveSeconds: 30',
  '    workdir: ~/.hpc-jupyter',
  '    python: /opt/venv/bin/python',
  '    prologue: |',
  '      module load python',
  '    defaults:',
  '      partition: debug',
  '      account: research',
  '      qos: normal',
  'profiles:',
  '  spark4:',
  '    displayName: Slurm 4-node Spark',
  '    cluster: testlab',
  '    template: spark',
  '    params: { nodes: 4, hours: 2, gpu: false, mode: fast }',
);

describe('parseConfigText', () => {
  it('reads every documented key', () => {
    const result = parse(FULL);
    expect(result.problems).toEqual([]);
    expect(result.clusters.get('testlab')).toEqual({
      name: 'testlab',
      title: 'Test lab (4 Slurm nodes)',
      scheduler: 'slurm',
      ssh: {
        host: '127.0.0.1',
        port: 2222,
        user: 'hpcjtest',
        identityFile: '~/.ssh/id_ed25519',
        proxyJump: 'bastion',
        knownHostsFile: '/tmp/known_hosts',
        configFile: '~/.ssh/config',
        keepaliveSeconds: 30,
      },
      workdir: '~/.hpc-jupyter',
      python: '/opt/venv/bin/python',
      prologue: 'module load python\n',
      defaults: { partition: 'debug', account: 'research', qos: 'normal' },
      source: FILE,
      line: 2,
    });
    expect(result.profiles.get('spark4')).toEqual({
      name: 'spark4',
      displayName: 'Slurm 4-node Spark',
      cluster: 'testlab',
      template: 'spark',
      params: { nodes: 4, hours: 2, gpu: false, mode: 'fast' },
      source: FILE,
      line: 23,
    });
  });

  it('treats an empty file or one with only comments as empty', () => {
    for (const text of ['', '# nothing yet\n', '---\n']) {
      const result = parse(text);
      expect(result.problems).toEqual([]);
      expect(result.clusters.size).toBe(0);
    }
  });

  it('names file, line, key path and the allowed values for a bad scheduler', () => {
    const result = parse(yaml('clusters:', '  testlab:', '    title: T', '    scheduler: slrum'));
    expect(result.problems).toHaveLength(1);
    const [p] = result.problems;
    expect(p?.message).toBe(
      `${DISPLAY}:4: clusters.testlab.scheduler must be one of slurm, pbs, lsf, htcondor, local (got "slrum")`,
    );
    expect(p?.file).toBe(FILE);
    expect(p?.line).toBe(4);
    expect(p?.keyPath).toBe('clusters.testlab.scheduler');
    expect(p?.hint).toBe("Did you mean 'slurm'?");
    expect(result.clusters.has('testlab')).toBe(false);
  });

  it('reports an unknown key with a did-you-mean and its own line', () => {
    const result = parse(
      yaml('clusters:', '  a:', '    scheduler: slurm', '    defaults:', '      partiton: debug'),
    );
    expect(result.problems.map((p) => p.message)).toEqual([
      `${DISPLAY}:5: unknown key 'partiton' in clusters.a.defaults; did you mean 'partition'?`,
    ]);
    expect(result.problems[0]?.keyPath).toBe('clusters.a.defaults.partiton');
  });

  it('reports an unknown key with no close match without a guess', () => {
    const result = parse(yaml('clusters:', '  a:', '    scheduler: local', '    colour: blue'));
    expect(result.problems[0]?.message).toBe(`${DISPLAY}:4: unknown key 'colour' in clusters.a`);
    expect(result.problems[0]?.hint).toContain('scheduler');
  });

  it('reports unknown top-level keys without dropping the rest', () => {
    const result = parse(yaml('cluster:', '  a: {}', 'clusters:', '  b:', '    scheduler: local'));
    expect(result.problems.map((p) => p.message)).toEqual([
      `${DISPLAY}:1: unknown key 'cluster' in the top level; did you mean 'clusters'?`,
    ]);
    expect([...result.clusters.keys()]).toEqual(['b']);
  });

  it('reports a missing required key at the entry', () => {
    const result = parse(
      yaml('clusters:', '  a:', '    ssh:', '      port: 22', '    scheduler: pbs'),
    );
    expect(result.problems.map((p) => [p.line, p.keyPath, p.message])).toEqual([
      [3, 'clusters.a.ssh', `${DISPLAY}:3: clusters.a.ssh is missing 'host'`],
    ]);
  });

  it('reports each wrong type once, with what was found', () => {
    const result = parse(
      yaml(
        'clusters:',
        '  a:',
        '    scheduler: slurm',
        '    ssh:',
        '      host: login',
        '      port: 22.5',
        '  b:',
        '    scheduler: slurm',
        '    ssh:',
      ),
    );
    expect(result.problems.map((p) => p.message)).toEqual([
      `${DISPLAY}:6: clusters.a.ssh.port must be a whole number (got 22.5)`,
      `${DISPLAY}:9: clusters.b.ssh must be a mapping of keys to values (got an empty value)`,
    ]);
  });

  it('reports out-of-range numbers', () => {
    const result = parse(
      yaml('clusters:', '  a:', '    scheduler: slurm', '    ssh: { host: h, port: 70000 }'),
    );
    expect(result.problems[0]?.message).toBe(
      `${DISPLAY}:4: clusters.a.ssh.port must be <= 65535 (got 70000)`,
    );
  });

  it('rejects shell metacharacters and newlines in partition, account and qos', () => {
    const result = parse(
      yaml(
        'clusters:',
        '  a:',
        '    scheduler: slurm',
        '    defaults:',
        '      partition: "debug; rm -rf ~"',
        '      account: "research\\nqos=high"',
        '      qos: $(id)',
      ),
    );
    expect(result.problems.map((p) => [p.line, p.keyPath])).toEqual([
      [5, 'clusters.a.defaults.partition'],
      [6, 'clusters.a.defaults.account'],
      [7, 'clusters.a.defaults.qos'],
    ]);
    expect(result.problems[0]?.message).toContain(
      "must be a name of letters, digits, '_', '.', '+' and '-'",
    );
    expect(result.problems[1]?.message).toContain('(got "research\\nqos=high")');
    expect(result.clusters.size).toBe(0);
  });

  it('rejects an ssh host that would read as an option', () => {
    const result = parse(
      yaml('clusters:', '  a:', '    scheduler: slurm', '    ssh: { host: "-oProxyCommand=x" }'),
    );
    expect(result.problems[0]?.keyPath).toBe('clusters.a.ssh.host');
  });

  it('rejects invalid names of clusters and profiles, pointing at the name', () => {
    const result = parse(
      yaml(
        'clusters:',
        '  ok:',
        '    scheduler: local',
        '  Test Lab:',
        '    scheduler: local',
        'profiles:',
        '  p1:',
        '    displayName: P',
        '    cluster: ok',
        '    template: Spark!',
      ),
    );
    expect(result.problems.map((p) => [p.line, p.keyPath])).toEqual([
      [4, 'clusters.Test Lab'],
      [10, 'profiles.p1.template'],
    ]);
    expect(result.problems[0]?.message).toBe(
      `${DISPLAY}:4: 'Test Lab' in clusters is not a valid name: expected a name of lower-case letters, digits, '_' and '-' that starts with a letter or digit (at most 63 characters)`,
    );
    expect([...result.clusters.keys()]).toEqual(['ok']);
    expect(result.profiles.size).toBe(0);
    expect([...result.invalidClusters]).toEqual(['Test Lab']);
  });

  it('keeps good entries when a sibling is bad', () => {
    const result = parse(
      yaml(
        'clusters:',
        '  good1:',
        '    scheduler: slurm',
        '  bad:',
        '    scheduler: slurm',
        '    ssh: { host: h, port: "twenty-two" }',
        '  good2:',
        '    scheduler: pbs',
        'profiles:',
        '  fine:',
        '    displayName: Fine',
        '    cluster: good1',
        '    template: jupyter',
        '  broken:',
        '    displayName: Broken',
        '    template: jupyter',
        '    params: { nodes: [1, 2] }',
      ),
    );
    expect([...result.clusters.keys()]).toEqual(['good1', 'good2']);
    expect([...result.profiles.keys()]).toEqual(['fine']);
    expect(result.problems.map((p) => [p.line, p.keyPath])).toEqual([
      [6, 'clusters.bad.ssh.port'],
      [14, 'profiles.broken'],
      [17, 'profiles.broken.params.nodes'],
    ]);
    expect(result.problems[1]?.message).toContain("profiles.broken is missing 'cluster'");
    expect(result.problems[2]?.message).toContain(
      'must be a string, a number or true or false (got a list)',
    );
  });

  it('drops the whole file on a YAML syntax error and names its line', () => {
    const result = parse(yaml('clusters:', '  a:', '    scheduler: slurm', '  b: [unclosed'));
    expect(result.clusters.size).toBe(0);
    expect(result.problems.length).toBeGreaterThan(0);
    expect(result.problems[0]?.message).toMatch(
      new RegExp(`^${DISPLAY.replaceAll('.', '\\.')}:\\d+: YAML syntax error: `),
    );
    expect(result.problems[0]?.line).toBeGreaterThanOrEqual(4);
    expect(result.problems[0]?.keyPath).toBeUndefined();
  });

  it('reports duplicate keys as a syntax error at the duplicate', () => {
    const result = parse(
      yaml('clusters:', '  a:', '    scheduler: slurm', '  a:', '    scheduler: pbs'),
    );
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]?.line).toBe(4);
    expect(result.problems[0]?.message).toContain('Map keys must be unique');
  });

  it('rejects a file that is not a mapping', () => {
    const result = parse(yaml('- clusters'));
    expect(result.problems[0]?.message).toBe(
      `${DISPLAY}:1: the top level must be a mapping of keys to values (got a list)`,
    );
  });

  it('lets anchors and merge keys share settings between clusters', () => {
    const result = parse(
      yaml(
        'clusters:',
        '  a: &base',
        '    scheduler: slurm',
        '    defaults: { partition: debug }',
        '  b:',
        '    <<: *base',
        '    title: B',
      ),
    );
    expect(result.problems).toEqual([]);
    expect(result.clusters.get('b')).toMatchObject({
      scheduler: 'slurm',
      title: 'B',
      defaults: { partition: 'debug' },
    });
  });

  it('refuses workdirs that are relative or span lines', () => {
    const result = parse(
      yaml(
        'clusters:',
        '  a: { scheduler: slurm, workdir: relative/dir }',
        '  b: { scheduler: slurm, workdir: "/ok\\n/not" }',
        '  c: { scheduler: slurm, workdir: /scratch/hpcj }',
      ),
    );
    expect(result.problems.map((p) => p.keyPath)).toEqual([
      'clusters.a.workdir',
      'clusters.b.workdir',
    ]);
    expect([...result.clusters.keys()]).toEqual(['c']);
  });
});
