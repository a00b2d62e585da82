import CoreMetrics
import Synchronization
import TollgateCore
import TollgateX402

extension GatewayMetrics {
    /// Sets the gauges read from live state (open circuit breakers, incident switches in force). A backend
    /// that is scraped calls it before each scrape (TollgateAdmin's `MetricsExposition` does); one that pushes,
    /// before each push.
    public func refreshGauges() {
        if let facilitators { breakersOpen.set(facilitators.openBreakers.count) }
        if let health = storeHealth?() {
            series.meter(.storeUp, [("backend", health.backend)]).set(health.reachable ? 1.0 : 0.0)
            if let commits = health.commits { countCommits(commits, backend: health.backend) }
        }
        guard let controls else { return }
        let snapshot = controls.snapshot
        var inForce: Set<String> = snapshot.globalIncident == nil ? [] : ["global"]
        for scope in snapshot.routeIncidents.keys { inForce.insert(labels.resources.value(scope)) }
        let scopes = incidentScopes.withLock { shown in
            shown.formUnion(inForce)
            return shown
        }
        for scope in scopes {
            series.meter(.incidentActive, [("scope", scope)]).set(inForce.contains(scope) ? 1.0 : 0.0)
        }
    }

    /// Adds what the store's group commit did since the last scrape to its counters (the store keeps running totals;
    /// a counter only goes up). Each total only moves forward, so two scrapes at once never count a stretch twice.
    private func countCommits(_ now: CommitStatistics, backend: String) {
        let before = commitsCounted.withLock { counted in
            defer {
                counted.commits = max(counted.commits, now.commits)
                counted.writes = max(counted.writes, now.writes)
                counted.busySeconds = max(counted.busySeconds, now.busySeconds)
                counted.waitSeconds = max(counted.waitSeconds, now.waitSeconds)
            }
            return counted
        }
        // Every series is touched at each scrape, so each exists (at 0) from the first scrape on.
        let labels = [("backend", backend)]
        series.increment(.storeCommits, labels, by: Int64(max(0, now.commits - before.commits)))
        series.increment(.storeCommittedWrites, labels, by: Int64(max(0, now.writes - before.writes)))
        series.amount(.storeBusy, labels).increment(by: max(0, now.busySeconds - before.busySeconds))
        series.amount(.storeQueueWait, labels).increment(by: max(0, now.waitSeconds - before.waitSeconds))
    }
}
