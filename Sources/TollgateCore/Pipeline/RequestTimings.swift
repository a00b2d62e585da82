/// Where a gateway reports what it adds to a paid request's latency: the time from the request's arrival to its
/// answer, less the time it waited for the facilitator (`/verify`, `/settle`) and the upstream. Local checks, the
/// store's synced commits and the gateway's own encoding are in it; the peers' work is not.
///
/// Reported for every request whose journey asked a facilitator. `GatewayMetrics` keeps it as
/// `tollgate_paid_request_overhead_seconds`. Called on the request's task: it must be cheap and never block.
public protocol RequestTimings: Sendable {
    func paidRequestAnswered(resource: String, overhead: Duration)
}

/// The time a journey spent waiting for its peers, measured by the driver.
struct PeerWait {
    let started = ContinuousClock.now
    private(set) var waited = Duration.zero
    private(set) var askedFacilitator = false

    /// Runs `call` (a facilitator or upstream call) and counts its duration as waiting.
    mutating func time<Result>(facilitator: Bool, _ call: () async -> Result) async -> Result {
        await time(facilitator: facilitator, excludingOwnWork: { (await call(), ownWork: Duration.zero) })
    }

    /// Runs `call` and counts its duration as waiting, less `ownWork` of it that was the gateway's (the settlement
    /// intent written inside the `/settle` call).
    mutating func time<Result>(facilitator: Bool, excludingOwnWork call: () async -> (Result, ownWork: Duration)) async -> Result {
        let begun = ContinuousClock.now
        let (result, ownWork) = await call()
        waited += ContinuousClock.now - begun - ownWork
        askedFacilitator = askedFacilitator || facilitator
        return result
    }

    /// Counts `waited` (a call that ran alongside the gateway's own work) as waiting.
    mutating func count(_ waited: Duration, facilitator: Bool) {
        self.waited += waited
        askedFacilitator = askedFacilitator || facilitator
    }

    var overhead: Duration { ContinuousClock.now - started - waited }
}
