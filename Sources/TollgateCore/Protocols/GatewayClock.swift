import Foundation

/// The gateway's source of time, replaceable in tests.
public protocol GatewayClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMillis() -> Int64
}

extension GatewayClock {
    public var nowSeconds: Int64 { nowMillis() / 1000 }
    /// Seconds with millisecond precision, for rate limiting.
    public var nowSecondsPrecise: Double { Double(nowMillis()) / 1000 }
}

/// Wall-clock time.
public struct SystemClock: GatewayClock {
    public init() {}
    public func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
