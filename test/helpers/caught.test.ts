import { describe, expect, it } from 'vitest'
import { caught } from './caught.js'

describe('caught', () => {
  it('answers the error a promise rejects with', async () => {
    const error = new Error('no')
    expect(await caught(Promise.reject(error))).toBe(error)
  })

  it('answers the error a function throws, or its promise rejects with', async () => {
    const thrown = new Error('thrown')
    const rejected = new Error('rejected')
    expect(
      await caught(() => {
        throw thrown
      }),
    ).toBe(thrown)
    expect(await caught(async () => Promise.reject(rejected))).toBe(rejected)
  })

  it('fails when no error comes', async () => {
    await expect(caught(Promise.resolve(1))).rejects.toThrow('expected an error, but none came')
    await expect(caught(() => 1)).rejects.toThrow('expected an error, but none came')
  })
})
