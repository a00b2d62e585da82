import Synchronization
import TollgateCore

/// A clock that stands still until a test moves it.
final class FixedClock: GatewayClock {
    private let millis: Mutex<Int64>

    init(millis: Int64 = 1_750_000_000_000) { self.millis = Mutex(millis) }

    func nowMillis() -> Int64 { millis.withLock { $0 } }

    func advance(seconds: Int64) { millis.withLock { $0 += seconds * 1000 } }
}
