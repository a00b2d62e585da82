/// The block ranges `eth_getLogs` is asked for, one after another, to cover `from...to`: at most `maxRange` blocks each,
/// oldest first, `maxWindows` answered at most; a window the node refuses is asked again at half the size, `maxHalvings`
/// times at most in all (the smaller size is kept for the windows after it). No I/O: the bound on calls is tested alone.
///
/// Oldest first because the log looked for is nearly always at the start: a payment settles within seconds of the time
/// the search starts from (the gateway's intent, the client's signature), while the head keeps moving on until the
/// settlement is looked at again, minutes or days later.
struct LogWindows: Sendable, Hashable {
    private(set) var from: Int64
    let to: Int64
    private(set) var size: Int64
    private(set) var windowsLeft: Int
    private(set) var halvingsLeft: Int

    init(from: Int64, to: Int64, maxRange: Int64, maxWindows: Int, maxHalvings: Int) {
        self.from = max(0, from)
        self.to = to
        self.size = max(1, maxRange)
        self.windowsLeft = maxWindows
        self.halvingsLeft = maxHalvings
    }

    /// The window to ask for next; nil once the range is covered or the windows are spent.
    var next: ClosedRange<Int64>? {
        guard from <= to, windowsLeft > 0 else { return nil }
        return from...(to - from < size ? to : from + size - 1)
    }

    /// Whether every block of the range was asked for (an answer that found nothing then means nothing is there).
    var coveredAll: Bool { from > to }

    /// The node answered the window `next`: the one after it is next.
    mutating func answered() {
        guard let window = next else { return }
        from = window.upperBound + 1
        windowsLeft -= 1
    }

    /// The node refused the window `next`: false when it cannot be halved any more (one block, or no halvings left).
    mutating func refused() -> Bool {
        guard size > 1, halvingsLeft > 0 else { return false }
        size /= 2
        halvingsLeft -= 1
        return true
    }
}
