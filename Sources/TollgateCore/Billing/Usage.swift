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

/// A usage report assembled from the rows a store reads: every store sums the same way (amounts as decimal strings,
/// never floating point), refunds netted per resource and unit.
public struct UsageReport: Sendable {
    private var byKey: [String: UsageSummary] = [:]

    public init() {}

    /// One usage event.
    public mutating func add(resource: String, unit: String, quantity: Int, amount: String, asset: String) {
        let key = Self.key(resource, unit)
        var summary = byKey[key] ?? UsageSummary(resource: resource, unit: unit, events: 0, quantity: 0, paid: [:])
        summary.events += 1
        // Saturating: rows written by another version (or edited) may hold any count, and a report never traps.
        let (sum, overflow) = summary.quantity.addingReportingOverflow(quantity)
        summary.quantity = overflow ? (quantity < 0 ? Int.min : Int.max) : sum
        if amount != "0", !asset.isEmpty {
            summary.paid[asset] = DecimalSum.add(summary.paid[asset] ?? "0", amount) ?? summary.paid[asset]
        }
        byKey[key] = summary
    }

    /// One refund of a flow in the report (ignored when no usage of its resource and unit was added).
    public mutating func addRefund(resource: String, unit: String, kind: String, amount: String, asset: String) {
        let key = Self.key(resource, unit)
        guard var summary = byKey[key] else { return }
        if kind == Refund.Kind.packageCredit.rawValue {
            summary.creditedUnits += Int(amount) ?? 0
        } else {
            summary.refunded[asset] = DecimalSum.add(summary.refunded[asset] ?? "0", amount) ?? summary.refunded[asset]
        }
        byKey[key] = summary
    }

    /// By resource, then unit.
    public var summaries: [UsageSummary] {
        byKey.values.sorted { ($0.resource, $0.unit) < ($1.resource, $1.unit) }
    }

    private static func key(_ resource: String, _ unit: String) -> String { "\(resource)\u{0}\(unit)" }
}
