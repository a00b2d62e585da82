/// One consumption of a metered resource, recorded once per flow (idempotent by correlation id).
public struct UsageEvent: Sendable, Hashable, Codable {
    public enum Source: String, Sendable, Hashable, Codable {
        /// Paid for by this flow's own payment.
        case payment
        /// Spent from a prepaid package balance.
        case package
    }

    public var correlationId: String
    public var clientId: String
    public var payer: String
    public var resource: String
    public var unit: String
    /// Units consumed (measured where the unit is measured: records, bytes, seconds).
    public var quantity: Int
    /// Units paid for or held, when they differ from those consumed.
    public var paidQuantity: Int
    public var source: Source
    /// Atomic amount paid by this flow ("0" for a package spend).
    public var amount: String
    public var asset: String
    public var atMillis: Int64

    public init(correlationId: String, clientId: String, payer: String, resource: String, unit: String, quantity: Int,
                paidQuantity: Int, source: Source, amount: String, asset: String, atMillis: Int64) {
        self.correlationId = correlationId
        self.clientId = clientId
        self.payer = payer
        self.resource = resource
        self.unit = unit
        self.quantity = quantity
        self.paidQuantity = paidQuantity
        self.source = source
        self.amount = amount
        self.asset = asset
        self.atMillis = atMillis
    }
}

/// Usage summed per resource and unit over a period.
public struct UsageSummary: Sendable, Hashable, Codable {
    public var resource: String
    public var unit: String
    public var events: Int
    public var quantity: Int
    /// Atomic amounts paid, per asset.
    public var paid: [String: String]
    /// Atomic amounts refunded (pending or paid out) for these flows, per asset.
    public var refunded: [String: String]
    /// Package units credited back for these flows.
    public var creditedUnits: Int

    public init(resource: String, unit: String, events: Int, quantity: Int, paid: [String: String], refunded: [String: String] = [:],
                creditedUnits: Int = 0) {
        self.resource = resource
        self.unit = unit
        self.events = events
        self.quantity = quantity
        self.paid = paid
        self.refunded = refunded
        self.creditedUnits = creditedUnits
    }
}

/// Reads usage for reports (`tollgate usage`, the admin API).
public protocol UsageLedger: Sendable {
    /// Usage of `clientId` (every client when nil) between `fromMillis` (inclusive) and `toMillis` (exclusive).
    func usage(clientId: String?, fromMillis: Int64, toMillis: Int64) async throws -> [UsageSummary]

    /// The units left in each package balance of `clientId`, by package name.
    func packageBalances(clientId: String) async throws -> [String: Int]
}
