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
        if let health = storeHealth?() { series.meter(.storeUp, [("backend", health.backend)]).set(health.reachable ? 1.0 : 0.0) }
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
}
