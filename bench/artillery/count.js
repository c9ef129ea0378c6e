// Artillery's ws engine counts pushed messages only while a step waits to capture one; these
// hooks count every frame the server pushes, by type, for the whole session of a virtual user.
'use strict';

function countPushed(context, events, done) {
  events.emit('counter', 'lt.connections_established', 1);
  context.ws.on('message', (data) => {
    let type = 'unparsed';
    try {
      type = JSON.parse(data.toString()).type || 'untyped';
    } catch (err) {
      // counted as unparsed
    }
    events.emit('counter', `lt.received.${type}`, 1);
  });
  context.ws.on('close', (code) => {
    events.emit('counter', `lt.closed.${code}`, 1);
  });
  return done();
}

// The engine ends a session with a bare `ws.close()` (no status code); the gateway answers such
// a close frame with an invalid code (reported), which `ws` treats as a protocol error. Close
// with 1000 first, as browsers and our own generator do.
function closeNormally(context, events, done) {
  context.ws.once('close', () => done());
  context.ws.close(1000);
}

module.exports = { countPushed, closeNormally };
