// Finding (and, where we may, installing) the browser the browser tests drive:
// Debian's `chromium` package, never a browser download. Used by the test
// command before any browser test runs.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** Where Debian puts the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium'

/**
 * The flags every test browser starts with (DESIGN.md §8): headless, no sandbox or GPU, nothing
 * phoning home; and WebRTC between tabs on loopback (without the last two ICE gathers no candidates).
 */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream'
]

/**
 * The browser's path: WEBFABRIC_CHROMIUM or /usr/bin/chromium when present; otherwise, as root on a
 * machine with apt, installs Debian's `chromium`; otherwise throws with exactly what to install.
 */
export function ensureChromium (log: (line: string) => void = console.log): string {
  const given = process.env.WEBFABRIC_CHROMIUM
  if (given != null && given !== '') {
    if (!existsSync(given)) throw new Error(`WEBFABRIC_CHROMIUM=${given} does not exist`)
    return given
  }
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH
  const root = process.getuid?.() === 0
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0
  if (!root || !apt) {
    throw new Error('the browser tests need Debian\'s chromium: run `sudo apt-get install -y chromium` (or set WEBFABRIC_CHROMIUM to a Chromium binary), then `npm test` again')
  }
  log('installing Debian\'s chromium for the browser tests (apt-get install chromium)…')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env })
  if (r.status !== 0) {
    // the package lists may be missing or stale on a fresh machine
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env })
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env })
  }
  if (r.status !== 0 || !existsSync(CHROMIUM_PATH)) {
    throw new Error('apt-get could not install chromium: install Debian\'s `chromium` package by hand, then `npm test` again')
  }
  return CHROMIUM_PATH
}
