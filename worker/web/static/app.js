// Live queue: when the server says the queue changed, fetch the re-rendered queue
// (escaped on the server like every page) and announce the change to screen readers.
(function () {
  'use strict'
  var queue = document.getElementById('queue')
  var status = document.getElementById('queue-status')
  if (!queue || !status || !window.EventSource || !window.fetch) {
    return
  }

  function focusedItemId () {
    var active = document.activeElement
    if (!active || !queue.contains(active)) {
      return null
    }
    var article = active.closest('article')
    return article ? article.id : ''
  }

  function restoreFocus (itemId, lane) {
    if (itemId === null) {
      return
    }
    var article = itemId ? document.getElementById(itemId) : null
    var target = article ? article.querySelector('a, button') : null
    if (!target && lane) {
      target = document.getElementById(lane)
      if (target) {
        target.setAttribute('tabindex', '-1')
      }
    }
    if (target) {
      target.focus()
    }
  }

  function refresh (data) {
    fetch(queue.getAttribute('data-fragment'), {
      credentials: 'same-origin',
      headers: { Accept: 'text/html' }
    }).then(function (response) {
      if (!response.ok) {
        throw new Error('queue refresh failed: ' + response.status)
      }
      return response.text()
    }).then(function (html) {
      var itemId = focusedItemId()
      var section = document.activeElement && document.activeElement.closest('section')
      var heading = section ? section.getAttribute('aria-labelledby') : null
      queue.innerHTML = html
      queue.setAttribute('data-version', data.version)
      restoreFocus(itemId, heading)
      status.textContent = data.summary
    }).catch(function () {
      status.textContent = 'The queue could not be refreshed. Reload the page to see the latest.'
    })
  }

  var source = new EventSource(queue.getAttribute('data-live'))
  source.addEventListener('queue', function (event) {
    var data = JSON.parse(event.data)
    if (data.version !== queue.getAttribute('data-version')) {
      refresh(data)
    }
  })
})()

// Presence: while an item page is open, tell the server every few seconds, so that the
// queue shows other officers who is handling it. The server forgets it after the expiry.
// The leading semicolon keeps this from being read as a call on the function above.
;(function () {
  'use strict'
  var section = document.querySelector('[data-heartbeat]')
  if (!section || !window.fetch) {
    return
  }
  var href = section.getAttribute('data-heartbeat')
  var token = section.getAttribute('data-csrf')
  var every = Math.max(5, parseInt(section.getAttribute('data-interval'), 10) || 25) * 1000

  function beat () {
    if (document.visibilityState === 'hidden') {
      return
    }
    fetch(href, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': token }
    }).catch(function () {})
  }

  window.setInterval(beat, every)
  document.addEventListener('visibilitychange', beat)
})()
