import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import Synchronization
import TollgateCore
import TollgateX402

extension GatewayMetrics {
    /// The Prometheus text format's media type.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Every metric in the Prometheus text format, with the gauges read now.
    public func exposition() -> [UInt8] {
        refreshGauges()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    /// The answer to `GET /metrics`.
    func scrapeResponse() -> Response {
        let body = exposition()
        return Response(status: .ok, headers: [.contentType: Self.contentType, .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private func refreshGauges() {
        if let facilitators { breakersOpen.set(to: Double(facilitators.openBreakers.count)) }
        guard let controls else { return }
        let snapshot = controls.snapshot
        var inForce: Set<String> = snapshot.globalIncident == nil ? [] : ["global"]
        for scope in snapshot.routeIncidents.keys { inForce.insert(labels.resources.value(scope)) }
        let scopes = incidentScopes.withLock { shown in
            shown.formUnion(inForce)
            return shown
        }
        let descriptor = MetricDefinition.incidentActive.descriptor
        for scope in scopes {
            registry.makeGauge(descriptor: descriptor, labels: [("scope", scope)]).set(to: inForce.contains(scope) ? 1 : 0)
        }
    }
}
