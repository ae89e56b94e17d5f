// Preloaded (`node --import`) into every program the docs test runs. The docs' programs listen on
// 3000 as written; several run at once here, so every listen takes a free port instead, and the first
// server to listen tells the test where it is (over the IPC channel the test opened).
import net from 'node:net';

process.channel?.unref(); // the channel must not keep a program alive that would otherwise exit
const listen = net.Server.prototype.listen;
let told = false;

net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) args[0] = 0;
  else if (first && typeof first === 'object' && 'port' in first) args[0] = { ...first, port: 0 };
  this.once('listening', () => {
    const address = this.address();
    if (told || !address || typeof address === 'string') return;
    told = true;
    process.send?.({ listening: { address: address.address, port: address.port } });
  });
  return listen.apply(this, args);
};
