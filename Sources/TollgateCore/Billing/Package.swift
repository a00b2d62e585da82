/// Units bought by one payment for a package route, added to the paying client's balance when the
/// payment settles.
public struct PackageGrant: Sendable, Hashable, Codable {
    public var clientId: String
    /// The balance the units go to (routes naming the same package share it).
    public var package: String
    public var unit: String
    public var units: Int

    public init(clientId: String, package: String, unit: String, units: Int) {
        self.clientId = clientId
        self.package = package
        self.unit = unit
        self.units = units
    }
}

/// Units set aside from a package balance for one prepaid request, before it is forwarded.
public struct UnitHold: Sendable, Hashable, Codable {
    public var correlationId: String
    public var clientId: String
    public var package: String
    public var units: Int

    public init(correlationId: String, clientId: String, package: String, units: Int) {
        self.correlationId = correlationId
        self.clientId = clientId
        self.package = package
        self.units = units
    }
}

public enum UnitHoldOutcome: Sendable, Hashable {
    /// The units are held; `remaining` is the balance after the hold.
    case held(remaining: Int)
    /// The balance (possibly 0) does not cover the hold; nothing was held.
    case insufficient(balance: Int)
}

/// What a delivered flow consumed, recorded with its settlement: the usage event and, for a package
/// purchase, the units bought (the request's own consumption is spent from them at once).
public struct MeteringRecord: Sendable, Hashable, Codable {
    public var usage: UsageEvent
    public var grant: PackageGrant?

    public init(usage: UsageEvent, grant: PackageGrant? = nil) {
        self.usage = usage
        self.grant = grant
    }
}
