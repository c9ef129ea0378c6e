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

module.exports = { countPushed };
