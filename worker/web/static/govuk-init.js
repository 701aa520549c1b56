// Starts GOV.UK Frontend's components (served from node_modules, never copied here).
import { initAll } from '/static/govuk/govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
