import Foundation

/// A ceiling on what one client or one payer may spend in one asset per day or month. Spend is held
/// atomically before forwarding, committed on settlement and released when nothing was charged, so
/// the cap holds under concurrency.
public struct SpendCap: Sendable, Hashable {
    public enum Subject: String, Sendable, Hashable {
        case client
        case payer
    }

    public enum Period: String, Sendable, Hashable {
        case day
        case month

        /// The UTC period a moment falls in (`2026-11-25`, `2026-11`).
        public func key(millis: Int64) -> String {
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
            let month = String(format: "%04d-%02d", parts.year ?? 0, parts.month ?? 0)
            return self == .month ? month : month + String(format: "-%02d", parts.day ?? 0)
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
