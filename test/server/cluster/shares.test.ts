import { describe, expect, it } from 'vitest'
import { shareOf, split } from '../../../server/cluster/shares.js'

describe('pool shares', () => {
  it('splits a total into parts that add up to it, the remainder to the first parts', () => {
    expect([0, 1, 2].map((i) => split(10, 3, i))).toEqual([4, 3, 3])
    expect([0, 1, 2, 3].map((i) => split(2, 4, i))).toEqual([1, 1, 0, 0])
    expect(split(7, 1, 0)).toBe(7)
  })

  it('never gives a cluster more than the configured bounds, whatever the nodes and workers', () => {
    const wrong: string[] = []
    for (let max = 1; max <= 40; max++) {
      for (let min = 0; min <= max; min++) {
        for (let nodes = 1; nodes <= 5; nodes++) {
          for (let workers = 1; workers <= 4; workers++) {
            let sumMax = 0
            let sumMin = 0
            for (let nodeRank = 0; nodeRank < nodes; nodeRank++) {
              for (let workerIndex = 0; workerIndex < workers; workerIndex++) {
                const part = shareOf({ min, max }, { nodeRank, nodes, workerIndex, workers })
                if (part.min > part.max) wrong.push(`min above max: ${JSON.stringify(part)}`)
                sumMax += part.max
                sumMin += part.min
              }
            }
            if (sumMax !== max || sumMin > min)
              wrong.push(
                `${min}/${max} over ${nodes} nodes × ${workers} workers: ${sumMin}/${sumMax}`,
              )
          }
        }
      }
    }
    expect(wrong).toEqual([])
  })
})
