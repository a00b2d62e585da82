import Foundation

/// A ceiling on what one client or one payer may spend in one asset per day or month. Spend is held
/// atomically before forwarding, committed on settlement and released when nothing was charged, so
/// the cap holds under concurrency.
public struct SpendCap: Sendable, Hashable {
    public enum Subject: String, Sendable, Hashable {
        case client
        case organisation
        case payer
    }

    public enum Period: String, Sendable, Hashable {
        case day
        case month

        /// The UTC period a moment falls in (`2026-11-25`, `2026-11`).
        public func key(millis: Int64) -> String {
            self == .month ? RFC3339.monthKey(millis: millis) : RFC3339.dayKey(millis: millis)
        }
    }

    public var subject: Subject
    public var period: Period
    /// Network and lowercase address of the asset the cap counts.
    public var network: String
    public var asset: String
    public var maximum: TokenAmount

    public init(subject: Subject, period: Period, network: String, asset: String, maximum: TokenAmount) {
        self.subject = subject
        self.period = period
        self.network = network
        self.asset = asset.lowercased()
        self.maximum = maximum
    }
}

/// One hold against one cap: who, in which period, how much.
public struct SpendHold: Sendable, Hashable {
    /// `client:<id>` or `payer:<address>`.
    public var subject: String
    /// `<network>/<asset>/<period key>`.
    public var bucket: String
    public var amount: TokenAmount
    public var maximum: TokenAmount

    public init(subject: String, bucket: String, amount: TokenAmount, maximum: TokenAmount) {
        self.subject = subject
        self.bucket = bucket
        self.amount = amount
        self.maximum = maximum
    }
}

/// A ceiling on the metering units a client or an organisation may consume per day or month. Held and
/// committed like spend, so it holds under concurrency and a failed delivery gives the units back.
public struct Quota: Sendable, Hashable {
    public var subject: SpendCap.Subject
    public var period: SpendCap.Period
    public var unit: String
    public var maximum: Int

    public init(subject: SpendCap.Subject, period: SpendCap.Period, unit: String, maximum: Int) {
        self.subject = subject
        self.period = period
        self.unit = unit
        self.maximum = maximum
    }

    /// Quota buckets are named apart from spend buckets.
    public static let bucketPrefix = "units/"
}
