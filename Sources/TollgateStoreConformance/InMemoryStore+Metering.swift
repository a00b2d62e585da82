import TollgateCore

/// Package units, their holds and usage: the metering half of the in-memory store.
extension InMemoryStore {
    public func setBalance(client: String, package: String, units: Int) { balances["\(client)/\(package)"] = units }
    public func balance(client: String, package: String) -> Int { balances["\(client)/\(package)"] ?? 0 }

    public func holdUnits(_ hold: UnitHold, events: [AuditEvent]) async throws -> UnitHoldOutcome {
        try check(.reserve)
        let key = "\(hold.clientId)/\(hold.package)"
        guard let balance = balances[key], let remaining = PackageUnits.afterHold(balance: balance, units: hold.units) else {
            return .insufficient(balance: balances[key] ?? 0)
        }
        balances[key] = remaining
        unitHolds[hold.correlationId] = (hold, "held", clock.nowMillis())
        write(events)
        return .held(remaining: remaining)
    }

    public func finishUnits(correlationId: String, consumed: Int, usage event: UsageEvent?, events: [AuditEvent]) async throws {
        try check(.finish)
        var events = events, event = event
        if let entry = unitHolds[correlationId] {
            let key = "\(entry.hold.clientId)/\(entry.hold.package)"
            if let finish = PackageUnits.finishing(entry.hold, state: entry.state, balance: balances[key], consumed: consumed, atMillis: clock.nowMillis()) {
                if let after = finish.balance { balances[key] = after }
                unitHolds[correlationId]?.state = finish.state
                if let late = finish.lateSpend { events.append(late) }
                event = finish.recorded(event)
            }
        }
        if let event, usage[event.correlationId] == nil { usage[event.correlationId] = event }
        write(events)
    }

    public func lapseUnitHolds(heldBeforeMillis: Int64) async throws -> Int {
        try check(.purge)
        let lapsed = unitHolds.values.filter { $0.state == "held" && $0.atMillis < heldBeforeMillis }.map(\.hold)
        for hold in lapsed {
            let key = "\(hold.clientId)/\(hold.package)"
            if let balance = balances[key] { balances[key] = PackageUnits.afterCredit(balance: balance, units: hold.units) }
            unitHolds[hold.correlationId]?.state = PackageUnits.lapsedHoldState
        }
        write(lapsed.map { PackageUnits.lapsedEvent($0, atMillis: clock.nowMillis()) })
        return lapsed.count
    }

    func record(_ metering: MeteringRecord) {
        if usage[metering.usage.correlationId] == nil { usage[metering.usage.correlationId] = metering.usage }
        guard let grant = metering.grant, grants[metering.usage.correlationId] == nil else { return }
        grants[metering.usage.correlationId] = grant
        let key = "\(grant.clientId)/\(grant.package)"
        units[key] = grant.unit
        balances[key] = PackageUnits.afterGrant(balance: balances[key] ?? 0, granted: grant.units, consumed: metering.usage.quantity)
    }

    public func usage(clientId: String?, fromMillis: Int64, toMillis: Int64) async throws -> [UsageSummary] {
        var summaries: [String: UsageSummary] = [:]
        let events = usage.values.filter { $0.atMillis >= fromMillis && $0.atMillis < toMillis && (clientId == nil || $0.clientId == clientId) }
        for event in events {
            let key = "\(event.resource)\u{0}\(event.unit)"
            var summary = summaries[key] ?? UsageSummary(resource: event.resource, unit: event.unit, events: 0, quantity: 0, paid: [:])
            summary.events += 1
            summary.quantity += event.quantity
            if event.amount != "0", !event.asset.isEmpty {
                summary.paid[event.asset] = DecimalSum.add(summary.paid[event.asset] ?? "0", event.amount) ?? summary.paid[event.asset]
            }
            for refund in refundsRecorded where refund.correlationId == event.correlationId {
                if refund.kind == .packageCredit {
                    summary.creditedUnits += Int(refund.amount) ?? 0
                } else {
                    summary.refunded[refund.asset] = DecimalSum.add(summary.refunded[refund.asset] ?? "0", refund.amount) ?? summary.refunded[refund.asset]
                }
            }
            summaries[key] = summary
        }
        return summaries.values.sorted { ($0.resource, $0.unit) < ($1.resource, $1.unit) }
    }

    public func packageBalances(clientId: String) async throws -> [String: Int] {
        Dictionary(balances.compactMap { entry -> (String, Int)? in
            let parts = entry.key.split(separator: "/", maxSplits: 1).map(String.init)
            return parts.count == 2 && parts[0] == clientId ? (parts[1], entry.value) : nil
        }) { first, _ in first }
    }
}
