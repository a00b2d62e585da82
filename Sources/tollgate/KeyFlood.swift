import Foundation
import TollgateCore
import TollgateX402

/// `tollgate bench --mode keyflood --requests N`: N distinct keys through the gateway's default rate
/// limiters (every class, as a flood of spoofed clients would), printing tracked keys, resident memory
/// and the admission rate, to show the memory bound holds.
enum KeyFlood {
    static func run(keys: Int) {
        let limits = TrafficLimits(global: .init(unpaid: RateLimit(ratePerSecond: 20, burst: 40), paid: RateLimit(ratePerSecond: 10, burst: 20),
                                                 invalid: RateLimit(ratePerSecond: 1, burst: 5)), maxKeys: 100_000)
        let cache = NegativeCache()
        let before = residentMegabytes()
        let start = ContinuousClock.now
        for index in 0..<keys {
            let key = [LimitKey("ip", "10.\(index >> 16 & 255).\(index >> 8 & 255).\(index & 255)/32")]
            _ = limits.admit(.unpaid, resource: "datasets", keys: key, now: 1000)
            _ = limits.admit(.invalid, resource: "datasets", keys: key, now: 1000)
            // A bad signature is the rail's deterministic refusal, cached as the gateway caches it.
            cache.remember(NegativeCache.key(Array("proof-\(index)".utf8)), reason: .signatureInvalid, now: 1000,
                           railRefusals: ExactEVMRail.wire.deterministicRefusals)
        }
        let elapsed = ContinuousClock.now - start
        let seconds = elapsed.inSeconds
        print(String(format: "key flood: %d distinct keys (unpaid + invalid limiters + invalid-proof cache) in %.2f s = %.0f keys/s",
                     keys, seconds, Double(keys) / seconds))
        print(String(format: "resident memory: %.1f MiB before, %.1f MiB after (limit: 100000 keys per class and key kind, 50000 cached proofs)",
                     before, residentMegabytes()))
        print("negative cache entries: \(cache.count)")
    }

    /// VmRSS from /proc (Linux).
    static func residentMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes / 1024
    }
}
