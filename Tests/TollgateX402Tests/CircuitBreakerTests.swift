import Testing
@testable import TollgateX402

@Suite struct CircuitBreakerTests {
    let settings = CircuitBreaker.Settings(failureThreshold: 3, slowCallMillis: 1000, openSeconds: 5)

    @Test func opensAfterConsecutiveFailuresOnly() {
        var breaker = CircuitBreaker(settings: settings)
        let r1 = breaker.record(failed: true, unreachable: false, latencyMillis: 10, now: 0)
        #expect(!r1)
        let r2 = breaker.record(failed: true, unreachable: false, latencyMillis: 10, now: 0)
        #expect(!r2)
        let r3 = breaker.record(failed: false, unreachable: false, latencyMillis: 10, now: 0)
        #expect(!r3)
        #expect(!breaker.isOpen)
        let r4 = breaker.record(failed: true, unreachable: false, latencyMillis: 10, now: 1)
        #expect(!r4)
        let r5 = breaker.record(failed: true, unreachable: false, latencyMillis: 10, now: 1)
        #expect(!r5)
        let r6 = breaker.record(failed: true, unreachable: false, latencyMillis: 10, now: 1)
        #expect(r6)
        #expect(breaker.isOpen)
    }

    @Test func slowCallsCountAndUnreachableOpensAtOnce() {
        var slow = CircuitBreaker(settings: settings)
        for _ in 0..<2 { _ = slow.record(failed: false, unreachable: false, latencyMillis: 1500, now: 0) }
        let r7 = slow.record(failed: false, unreachable: false, latencyMillis: 1500, now: 0)
        #expect(r7)
        var down = CircuitBreaker(settings: settings)
        let r8 = down.record(failed: true, unreachable: true, latencyMillis: 1, now: 0)
        #expect(r8)
    }

    @Test func halfOpenProbeAfterTheInterval() {
        var breaker = CircuitBreaker(settings: settings)
        _ = breaker.record(failed: true, unreachable: true, latencyMillis: 1, now: 10)
        #expect(!breaker.mayProbe(now: 14))
        #expect(breaker.mayProbe(now: 15))
        breaker.close()
        #expect(!breaker.isOpen)
        #expect(breaker.consecutiveFailures == 0)
    }
}
