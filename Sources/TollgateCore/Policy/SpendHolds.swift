/// The life of spend held against caps and quotas, decided here for every store. A flow holds spend before it
/// is forwarded (`decide`), the hold is committed when its payment settles and released when nothing was
/// charged (`afterFinish`, `afterRelease`), and is kept while the outcome is unknown. The store keeps, per
/// subject and bucket, the total held or committed, and per flow, subject and bucket, one hold with its state;
/// it reads those, asks `decide`, and writes the answer in the same transaction, so a cap is never exceeded
/// under concurrency.
public enum SpendHolds {
    public enum State: String, Sendable, Hashable, Codable {
        case held
        case committed
        case released

        /// Whether the hold still counts in its bucket's total.
        public var counts: Bool { self != .released }
    }

    /// One subject's bucket (`client:alice`, `eip155:8453/0x…/2026-11`).
    public struct Bucket: Sendable, Hashable {
        public var subject: String
        public var bucket: String

        public init(subject: String, bucket: String) {
            self.subject = subject
            self.bucket = bucket
        }

        public init(_ hold: SpendHold) { self.init(subject: hold.subject, bucket: hold.bucket) }
    }

    /// A hold to record, with its bucket's total once it is added.
    public struct Write: Sendable, Hashable {
        public var hold: SpendHold
        public var total: TokenAmount

        public init(hold: SpendHold, total: TokenAmount) {
            self.hold = hold
            self.total = total
        }
    }

    public enum Decision: Sendable, Hashable {
        /// Record every write (holds this flow already counts are left out: holding again changes nothing).
        case hold([Write])
        /// This hold would pass its maximum: nothing is held.
        case exceeds(SpendHold)
    }

    /// All or nothing: the holds of one flow against the current `totals` (absent: zero). Buckets in `counted`
    /// (the flow's holds already `held` or `committed`) are skipped, so running the same flow's holds twice (a
    /// takeover of its claim) counts its spend once.
    public static func decide(_ holds: [SpendHold], totals: [Bucket: TokenAmount], counted: Set<Bucket>) -> Decision {
        var running = totals
        var writes: [Write] = []
        for hold in holds where !counted.contains(Bucket(hold)) {
            guard let total = fits(hold, total: running[Bucket(hold)] ?? .zero) else { return .exceeds(hold) }
            running[Bucket(hold)] = total
            writes.append(Write(hold: hold, total: total))
        }
        return .hold(writes)
    }

    /// The bucket's total with `hold` added, or nil when that passes the hold's maximum (equal is allowed).
    public static func fits(_ hold: SpendHold, total: TokenAmount) -> TokenAmount? {
        guard let sum = total.adding(hold.amount), sum <= hold.maximum else { return nil }
        return sum
    }

    /// A bucket's total once a hold of `amount` is given back (never below zero).
    public static func released(_ total: TokenAmount, amount: TokenAmount) -> TokenAmount {
        total.subtracting(amount) ?? .zero
    }

    /// What `finish` does with the flow's `held` holds when its reservation ends in `state`: committed on a
    /// settlement, released on a failure; nil keeps them held (money may still move).
    public static func afterFinish(_ state: Reservation.State) -> State? {
        switch state {
        case .settled: .committed
        case .failed: .released
        case .reserved, .settling, .pending, .unknown: nil
        }
    }

    /// A released claim (nothing was settled) releases its flow's held holds.
    public static let afterRelease = State.released
}
