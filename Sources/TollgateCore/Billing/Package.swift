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
    /// stopped waiting): its units go back to the balance. A day: far longer than any request lasts through the
    /// proxy and MCP doors (their upstream timeouts are at most an hour) and than any HTTP exchange a handler in
    /// process (the Hummingbird middleware, in-process MCP tools) can keep open; a request that still finishes later
    /// spends from the balance what it consumed, and what the balance no longer covers is audited
    /// (`lateSpendEvent`).
    public static let lapseSeconds: Int64 = 86_400

    /// What finishing a hold writes: the balance (nil: the client has none to change), the hold's new state, and for a
    /// hold that had lapsed the event saying what was taken.
    public struct Finish: Sendable, Hashable {
        public var balance: Int?
        public var state: String
        public var lateSpend: AuditEvent?
        /// The units of the consumption paid from the hold and the balance (nil when the balance is not known).
        public var taken: Int?

        /// The usage as recorded: its paid quantity says what was taken, so a credit refund (`RefundPolicy.credit`)
        /// never gives back units the balance did not give (a lapsed hold, a balance that ran short).
        public func recorded(_ usage: UsageEvent?) -> UsageEvent? {
            guard var usage, let taken else { return usage }
            usage.paidQuantity = taken < usage.quantity ? taken : max(usage.paidQuantity, usage.quantity)
            return usage
        }
    }

    /// Finishing `hold`, found in `state`, against `balance`: while `held`, the units not consumed go back; once
    /// `lapsed` they went back already, so what it consumed is taken from the balance as far as it goes, and audited.
    /// Nil for a hold already finished: a second finish changes nothing.
    public static func finishing(_ hold: UnitHold, state: String, balance: Int?, consumed: Int, atMillis: Int64) -> Finish? {
        let held: Int
        switch state {
        case "held": held = hold.units
        case lapsedHoldState: held = 0
        default: return nil
        }
        let after = balance.map { afterFinish(balance: $0, held: held, consumed: consumed) }
        let taken = balance.map { $0 + held - (after ?? 0) }
        // A lapsed hold that consumed nothing took nothing: there is no late spend to audit.
        let lateSpend = state == lapsedHoldState && consumed > 0
            ? lateSpendEvent(correlationId: hold.correlationId, clientId: hold.clientId, package: hold.package, consumed: consumed,
                             taken: taken ?? 0, atMillis: atMillis)
            : nil
        return Finish(balance: after, state: finishedHoldState(consumed: consumed), lateSpend: lateSpend, taken: taken)
    }

    /// The audit event of a request that finished after its hold lapsed: what it consumed was taken from the balance
    /// as far as it went (`taken`), the rest (`short`) was delivered unpaid.
    public static func lateSpendEvent(correlationId: String, clientId: String, package: String, consumed: Int, taken: Int,
                                      atMillis: Int64) -> AuditEvent {
        AuditEvent(correlationId: correlationId, timeMillis: atMillis, stage: .meter, outcome: taken < consumed ? .error : .ok,
                   reason: Reason.unitsSpentAfterLapse.rawValue, clientId: clientId, details: [
                       "package": package, "consumed": String(consumed), "taken": String(taken), "short": String(max(0, consumed - taken)),
                       "detail": "the request finished after its hold had lapsed; its units were taken from the balance as far as it went",
                   ])
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

    /// The balance after units spent are credited back.
    public static func afterCredit(balance: Int, units: Int) -> Int {
        balance + max(0, units)
    }
}
