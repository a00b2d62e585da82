import Foundation
import TollgateCore

/// `tollgate bench --mode paths --requests N`: the cost of `RequestPath.normalize` on typical and adversarial
/// paths, in process (no network), in nanoseconds per path.
enum PathBench {
    static let samples = [
        "/datasets/prices", "/datasets/history/2026/11/25", "/%72eports/daily", "/exports/caf%C3%A9-%E2%82%AC.csv",
        "/datasets/a%2Fb", "/a/%2e%2e/reports", "/records/" + String(repeating: "segment/", count: 16),
    ]

    static func run(iterations: Int) {
        var accepted = 0
        for path in samples {
            let start = ContinuousClock.now
            for _ in 0..<iterations {
                if case .success = RequestPath.normalize(path) { accepted += 1 }
            }
            let nanos = Double((ContinuousClock.now - start).inNanoseconds) / Double(iterations)
            let shown = path.count > 40 ? String(path.prefix(37)) + "..." : path
            print("normalise " + shown.padding(toLength: 42, withPad: " ", startingAt: 0) + String(format: "%7.0f ns/path", nanos))
        }
        print("(\(accepted) normalised of \(iterations * samples.count); refused spellings stop at the first ambiguous escape)")
    }
}
