// Collectives over libtorch's c10d (TCPStore rendezvous, Gloo process group)
// on Tensors. One process group per process. Every call blocks until it is
// done or the group's timeout passes; failures are thrown as errors naming
// the op (`distAllreduce: ... Connection closed by peer ...`). Bucketing,
// rendezvous checks and fault reporting live in src/train/distributed.ts.
import { native } from '../native/index.js';
import type { Tensor } from './tensor.js';
import { ArgumentError, assertInt } from './validate.js';

export type ReduceOp = 'sum' | 'max' | 'min';

/** Whether the addon was built with c10d/Gloo. */
export function distAvailable(): boolean {
  return native().buildInfo().distributed;
}

function checkEndpoint(host: string, port: number, op: string): void {
  if (typeof host !== 'string' || host.trim() === '')
    throw new ArgumentError(`Argument 'host' passed to '${op}' must be a host name or address, but got '${String(host)}'`);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ArgumentError(`Argument 'port' passed to '${op}' must be an integer in 1..65535, but got ${port}`);
}

function checkTimeout(timeoutMs: number, op: string): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1)
    throw new ArgumentError(`Argument 'timeoutMs' passed to '${op}' must be a number of milliseconds >= 1, but got ${timeoutMs}`);
}

/**
 * Connects this process to the key-value store at host:port, hosting it when
 * `isServer` (rank 0). Used alone for rendezvous checks; `distInit` then
 * builds the process group on the same store.
 */
export function distStoreConnect(host: string, port: number, isServer: boolean, world: number, timeoutMs: number): void {
  checkEndpoint(host, port, 'distStoreConnect');
  assertInt(world, 'world', 'distStoreConnect', 1);
  checkTimeout(timeoutMs, 'distStoreConnect');
  native().distStoreConnect(host, port, isServer, world, Math.round(timeoutMs));
}

/** Forms the Gloo process group (on the connected store, or a new one). `iface` picks the network interface (e.g. 'eth0'). */
export function distInit(host: string, port: number, rank: number, world: number, timeoutMs: number, iface?: string): void {
  checkEndpoint(host, port, 'distInit');
  assertInt(world, 'world', 'distInit', 1);
  assertInt(rank, 'rank', 'distInit', 0);
  if (rank >= world) throw new ArgumentError(`Argument 'rank' passed to 'distInit' must be below the world size ${world}, but got ${rank}`);
  checkTimeout(timeoutMs, 'distInit');
  native().distInit(host, port, rank, world, Math.round(timeoutMs), iface ?? null);
}

export function distIsInitialized(): boolean {
  return native().distIsInitialized();
}

/** Reduces `t` over every rank, in place (the result lands on every rank). */
export function distAllReduce_(t: Tensor, op: ReduceOp = 'sum'): Tensor {
  if (op !== 'sum' && op !== 'max' && op !== 'min')
    throw new ArgumentError(`Argument 'op' passed to 'distAllReduce_' must be 'sum', 'max' or 'min', but got '${String(op)}'`);
  native().distAllreduce(t.handle, op);
  return t;
}

/** Overwrites `t` on every rank with rank `root`'s values, in place. */
export function distBroadcast_(t: Tensor, root = 0): Tensor {
  assertInt(root, 'root', 'distBroadcast_', 0);
  native().distBroadcast(t.handle, root);
  return t;
}

export function distBarrier(): void {
  native().distBarrier();
}

/** The time limit of later store operations (connecting used the one given to distStoreConnect). */
export function distStoreSetTimeout(timeoutMs: number): void {
  checkTimeout(timeoutMs, 'distStoreSetTimeout');
  native().distStoreSetTimeout(Math.round(timeoutMs));
}

export function distStoreSet(key: string, value: string): void {
  native().distStoreSet(key, value);
}

/** The value of `key`, waiting up to `timeoutMs` for some rank to set it. */
export function distStoreGet(key: string, timeoutMs: number): string {
  checkTimeout(timeoutMs, 'distStoreGet');
  return native().distStoreGet(key, Math.round(timeoutMs));
}

export function distStoreCheck(key: string): boolean {
  return native().distStoreCheck(key);
}

/** Adds `delta` to the integer counter `key` (created at 0) and returns the new value; delta 0 reads it. */
export function distStoreAdd(key: string, delta: number): number {
  assertInt(delta, 'delta', 'distStoreAdd');
  return native().distStoreAdd(key, delta);
}

/**
 * Starts a background thread that adds 1 to the store counter `key` every
 * `intervalMs` over its own connection: other ranks read it to tell a live
 * rank (even one blocked in a collective) from a lost one.
 */
export function distHeartbeat(key: string, intervalMs: number): void {
  assertInt(intervalMs, 'intervalMs', 'distHeartbeat', 1);
  native().distHeartbeat(key, intervalMs);
}

/** Stops the heartbeat, leaves the group and closes the store (rank 0 stops hosting it). */
export function distDestroy(): void {
  native().distDestroy();
}
