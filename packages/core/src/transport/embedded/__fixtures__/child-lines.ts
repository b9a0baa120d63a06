import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Runs a Node script of these fixtures, hands each line it prints to `onLine` (which may kill it), and resolves
 * with how it ended: killed by SIGKILL, or exited with code 0. Any other end rejects, with its stderr.
 */
export function runChild(
  script: string,
  args: readonly string[],
  onLine: (line: string, child: ChildProcess) => void,
): Promise<'killed' | 'exited'> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-warnings', script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine(line, child);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve('killed');
      else if (code === 0) resolve('exited');
      else reject(new Error(`${script} exited with ${code ?? signal}: ${stderr}`));
    });
  });
}
