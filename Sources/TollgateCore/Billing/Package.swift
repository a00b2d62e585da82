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

/// Package balance arithmetic, in whole units, for every store. A balance never goes below zero: a hold that
/// does not fit is refused, and consumption past a hold is spent only as far as the balance allows. The store
/// reads the balance, asks these functions and writes the result in the same transaction.
public enum PackageUnits {
    /// The balance after holding `units`, or nil when it does not cover them (nothing is held then).
    public static func afterHold(balance: Int, units: Int) -> Int? {
        balance >= units ? balance - units : nil
    }

    /// The balance when a prepaid request ends: held units not consumed go back; consumption past the hold is
    /// taken from the balance while it lasts.
    public static func afterFinish(balance: Int, held: Int, consumed: Int) -> Int {
        max(0, balance + held - max(0, consumed))
    }

    /// The state a finished hold is recorded with.
    public static func finishedHoldState(consumed: Int) -> String { consumed > 0 ? "spent" : "released" }

    /// The state of a hold no request finished in time, its units given back (`lapse`).
    public static let lapsedHoldState = "lapsed"

    /// A hold still `held` this long after it was taken belongs to a request that will never finish it (the gateway
    /// stopped during the upstream call, its finish could not be written, or the hold committed after its caller
    /// stopped waiting): its units go back to the balance. Longer than any request lasts (an upstream timeout is at
    /// most an hour), so a live request's hold is never given back under it.
    public static let lapseSeconds: Int64 = 7_200

    /// The units a finishing request returns to the balance for a hold in `state`: all it holds while `held`, none
    /// once `lapsed` (they went back already, so what it consumed is taken from the balance); nil for a hold already
    /// finished, which a second finish leaves alone.
    public static func unitsStillHeld(state: String, units: Int) -> Int? {
        switch state {
        case "held": units
        case lapsedHoldState: 0
        default: nil
        }
    }

    /// The audit event of a hold given back by `lapse`, in its own flow.
    public static func lapsedEvent(_ hold: UnitHold, atMillis: Int64) -> AuditEvent {
        AuditEvent(correlationId: hold.correlationId, timeMillis: atMillis, stage: .meter, outcome: .ok, reason: Reason.unitsLapsed.rawValue,
                   clientId: hold.clientId, details: [
                       "package": hold.package, "units": String(hold.units),
                       "detail": "the request never finished its hold; the units went back to the balance",
                   ])
    }

    /// The balance after a purchase: the units bought, less what the purchasing request consumed itself.
    public static func afterGrant(balance: Int, granted: Int, consumed: Int) -> Int {
        max(0, balance) + max(0, granted - consumed)
    }

    /// The balance after a payout refund takes back `units` of what the payment bought (as far as it still holds them).
    public static func afterTakeBack(balance: Int, units: Int) -> Int {
        max(0, balance - units)
    }

    /// The balance after units spent are credited back.
    public static func afterCredit(balance: Int, units: Int) -> Int {
        balance + max(0, units)
    }
}
