import { describe, expect, it } from 'vitest';
import { adminTokenFor, adminTokens } from './admin-token.ts';

describe('sidecar admin tokens', () => {
  it('are one per namespace, stable for a key, and change with the key', () => {
    const tokens = adminTokens('key-1');
    expect(tokens('shop')).toBe(adminTokenFor('key-1', 'shop'));
    expect(tokens('shop')).toBe(tokens('shop'));
    // One namespace's token opens no other namespace's sidecars.
    expect(tokens('shop')).not.toBe(tokens('billing'));
    expect(adminTokenFor('key-2', 'shop')).not.toBe(tokens('shop'));
    // A bearer token: URL-safe, and 256 bits.
    expect(tokens('shop')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
