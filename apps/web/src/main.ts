// The app's one entry: routes on the path — `/dashboard` is the operator
// dashboard, anything else the participant page. Each route's code loads
// only when it is the one shown.
import './style.css'

const root = document.getElementById('app')
if (root == null) throw new Error('index.html has no #app element')

if (/^\/dashboard\/?$/.test(location.pathname)) {
  const { startDashboard } = await import('./dashboard.ts')
  startDashboard(root)
} else {
  const { startParticipant } = await import('./participant.ts')
  startParticipant(root)
}
