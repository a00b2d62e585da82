import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing
import TollgateAdmin
import TollgateConfiguration
import TollgateCore
import TollgateDevFacilitator
import TollgateHTTP
import TollgateSQLite
import TollgateStoreConformance
import TollgateX402

/// Metrics recorded through swift-metrics into a Prometheus registry: the event → metric mapping on hand-made
/// events, and a scripted flow against a real gateway scraped through the admin listener.
@Suite struct MetricsTests {
    static let token = "metrics-admin-token-0123456789abcdef"
    static let usdc = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    static let signatureInvalid = "invalid_exact_evm_payload_signature"

    /// The configuration of `LiveStack` (routes `datasets`, `reports`, `health`; asset `usdc`).
    static func configuration(extra: String = "") throws -> GatewayConfiguration {
        try ConfigurationLoader.parse(LiveStack.yaml(upstream: 1, facilitator: 2, directory: "/tmp") + extra).0
    }

    static func event(_ stage: AuditEvent.Stage, _ outcome: AuditEvent.Outcome, _ reason: String? = nil, resource: String? = "datasets",
                      flow: String = "tg_1", _ details: [String: String] = [:]) -> AuditEvent {
        AuditEvent(correlationId: flow, timeMillis: 0, stage: stage, outcome: outcome, reason: reason, resource: resource, details: details)
    }

    /// The samples of an exposition: `name{labels}` → value.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    /// Metrics recorded into a registry of their own, as `GatewayServer` wires them, and what `/metrics` serves of them.
    static func recorded(_ configuration: GatewayConfiguration, controls: OperatorControls? = nil) -> (GatewayMetrics, MetricsExposition) {
        let registry = PrometheusCollectorRegistry()
        let metrics = GatewayMetrics(factory: MetricsExposition.factory(recordingInto: registry), routes: configuration.routes,
                                     assets: configuration.assets, controls: controls)
        return (metrics, MetricsExposition(registry: registry, metrics: metrics))
    }

    static func samples(_ exposition: MetricsExposition) -> [String: Double] {
        samples(String(decoding: exposition.text(), as: UTF8.self))
    }

    // MARK: mapping

    @Test func funnelEventsBecomeCounters() throws {
        let (metrics, exposition) = Self.recorded(try Self.configuration())
        // Paid routes' funnel series exist before any traffic.
        var samples = Self.samples(exposition)
        #expect(samples[#"tollgate_proofs_received_total{resource="datasets"}"#] == 0)
        #expect(samples[#"tollgate_settlements_total{resource="reports",network="eip155:84532"}"#] == 0)
        #expect(samples[#"tollgate_rate_limited_total{class="invalid"}"#] == 0)
        #expect(samples[#"tollgate_proofs_received_total{resource="health"}"#] == nil)

        metrics.observe([Self.event(.offer, .issued, "payment_required")])
        metrics.observe([Self.event(.proof, .received), Self.event(.verify, .denied, Self.signatureInvalid),
                         Self.event(.offer, .issued, Self.signatureInvalid, flow: "tg_2")])
        metrics.observe([Self.event(.proof, .received, flow: "tg_3"), Self.event(.verify, .ok, flow: "tg_3"), Self.event(.reserve, .ok, flow: "tg_3")])
        // A pending settlement asked again and settled: one settlement, no failure.
        metrics.observe([
            Self.event(.facilitatorVerify, .ok, flow: "tg_3"), Self.event(.forward, .ok, flow: "tg_3"),
            Self.event(.settle, .error, "settlement_pending", flow: "tg_3"),
            Self.event(.settle, .ok, flow: "tg_3", ["network": "eip155:84532", "asset": Self.usdc.lowercased(), "amount": "10000", "transaction": "0x1"]),
            Self.event(.respond, .ok, "delivered", flow: "tg_3"),
        ])
        metrics.observe([Self.event(.settle, .ok, flow: "tg_4", ["network": "eip155:84532", "asset": Self.usdc, "amount": "2500000"])])
        metrics.observe([Self.event(.settle, .denied, "insufficient_funds", flow: "tg_5"), Self.event(.respond, .denied, "settlement_failed", flow: "tg_5")])
        metrics.observe([Self.event(.settle, .error, "settlement_pending", flow: "tg_6"), Self.event(.settle, .error, "settlement_pending", flow: "tg_6")])
        metrics.observe([Self.event(.reserve, .denied, "invalid_exact_evm_nonce_already_used", flow: "tg_7"),
                         Self.event(.facilitatorVerify, .denied, "insufficient_funds", flow: "tg_8")])
        metrics.observe([Self.event(.admit, .denied, "rate_limited_unpaid", ["class": "unpaid", "key": "ip"]),
                         Self.event(.identify, .denied, "unknown_api_key", resource: "reports"),
                         Self.event(.route, .denied, "no_route", resource: nil)])
        metrics.observe([Self.event(.refund, .ok, nil, ["kind": "payout", "automatic": "true", "amount": "5000", "asset": Self.usdc.lowercased(),
                                                   "network": "eip155:84532"]),
                         Self.event(.refund, .ok, nil, ["kind": "package_credit", "automatic": "false", "amount": "3", "asset": ""])])
        metrics.countResponse(status: 402)
        metrics.countResponse(status: 402)
        metrics.countResponse(status: 200)
        metrics.countResponse(status: 503)

        samples = Self.samples(exposition)
        let expected: [String: Double] = [
            #"tollgate_requests_total{status="2xx"}"#: 1,
            #"tollgate_requests_total{status="4xx"}"#: 2,
            #"tollgate_requests_total{status="5xx"}"#: 1,
            #"tollgate_payment_required_total{resource="datasets",reason="payment_required"}"#: 1,
            #"tollgate_payment_required_total{resource="datasets",reason="invalid_exact_evm_payload_signature"}"#: 1,
            #"tollgate_proofs_received_total{resource="datasets"}"#: 2,
            #"tollgate_proofs_verified_total{resource="datasets"}"#: 1,
            #"tollgate_proofs_refused_total{resource="datasets",reason="invalid_exact_evm_payload_signature"}"#: 1,
            #"tollgate_proofs_refused_total{resource="datasets",reason="invalid_exact_evm_nonce_already_used"}"#: 1,
            #"tollgate_proofs_refused_total{resource="datasets",reason="insufficient_funds"}"#: 1,
            #"tollgate_settlements_total{resource="datasets",network="eip155:84532"}"#: 2,
            #"tollgate_revenue_total{resource="datasets",network="eip155:84532",asset="usdc"}"#: 2.51,
            #"tollgate_settlement_failures_total{resource="datasets",reason="insufficient_funds"}"#: 1,
            #"tollgate_settlement_failures_total{resource="datasets",reason="settlement_pending"}"#: 1,
            #"tollgate_rate_limited_total{class="unpaid"}"#: 1,
            #"tollgate_rate_limited_total{class="paid"}"#: 0,
            #"tollgate_refunds_total{kind="payout",automatic="true"}"#: 1,
            #"tollgate_refunds_total{kind="package_credit",automatic="false"}"#: 1,
            #"tollgate_refunded_total{network="eip155:84532",asset="usdc"}"#: 0.005,
            #"tollgate_denials_total{stage="verify",reason="invalid_exact_evm_payload_signature"}"#: 1,
            #"tollgate_denials_total{stage="identify",reason="unknown_api_key"}"#: 1,
            #"tollgate_denials_total{stage="route",reason="no_route"}"#: 1,
            #"tollgate_denials_total{stage="admit",reason="rate_limited_unpaid"}"#: 1,
            #"tollgate_audit_events_total{stage="offer",outcome="issued"}"#: 2,
            #"tollgate_audit_events_total{stage="settle",outcome="ok"}"#: 2,
            #"tollgate_audit_events_total{stage="settle",outcome="error"}"#: 3,
            #"tollgate_audit_events_total{stage="refund",outcome="ok"}"#: 2,
        ]
        for (series, value) in expected {
            #expect(samples[series] == value, "\(series)")
        }
        // A pending settlement that stayed pending is one failure (the last attempt), not two.
        #expect(samples.keys.filter { $0.hasPrefix("tollgate_settlement_failures_total") }.count == 2)
    }

    @Test func labelValuesStayBounded() throws {
        let (metrics, exposition) = Self.recorded(try Self.configuration())
        // Resources come from the configuration only.
        metrics.observe([Self.event(.proof, .received, resource: "invented"), Self.event(.proof, .received, resource: nil)])
        // Settlements on an unconfigured network or asset: counted, labelled `other`, no revenue in unknown units.
        metrics.observe([Self.event(.settle, .ok, nil, ["network": "eip155:1", "asset": "0x0000000000000000000000000000000000000001", "amount": "1"])])
        // A value is cut to 64 characters.
        metrics.observe([Self.event(.verify, .denied, String(repeating: "x", count: 500))])
        // A facilitator inventing reasons: at most 64 distinct values in all, then `other`.
        metrics.observe((0..<100).map { Self.event(.facilitatorVerify, .denied, "made_up_reason_\($0)", flow: "tg_\($0)") })

        let samples = Self.samples(exposition)
        #expect(samples[#"tollgate_proofs_received_total{resource="other"}"#] == 1)
        #expect(samples[#"tollgate_proofs_received_total{resource="none"}"#] == 1)
        #expect(samples[#"tollgate_settlements_total{resource="datasets",network="other"}"#] == 1)
        #expect(!samples.keys.contains { $0.hasPrefix("tollgate_revenue_total") })
        let refused = samples.filter { $0.key.hasPrefix("tollgate_proofs_refused_total") }
        #expect(refused[#"tollgate_proofs_refused_total{resource="datasets",reason="\#(String(repeating: "x", count: 64))"}"#] == 1)
        // 64 reasons were admitted: `payment_required` (a funnel series from the start), the cut one and 62 invented.
        #expect(refused[#"tollgate_proofs_refused_total{resource="datasets",reason="made_up_reason_61"}"#] == 1)
        #expect(refused[#"tollgate_proofs_refused_total{resource="datasets",reason="made_up_reason_62"}"#] == nil)
        #expect(refused[#"tollgate_proofs_refused_total{resource="datasets",reason="other"}"#] == 38)
        #expect(refused.count == 64)
    }

    @Test func gaugesAreReadWhenScraped() throws {
        let controls = OperatorControls()
        let (_, exposition) = Self.recorded(try Self.configuration(), controls: controls)
        var samples = Self.samples(exposition)
        #expect(samples[#"tollgate_incident_active{scope="global"}"#] == 0)
        #expect(samples[#"tollgate_incident_active{scope="datasets"}"#] == 0)
        #expect(samples["tollgate_circuit_breakers_open"] == 0)

        let incident = Incident(id: "inc_1", reason: "test", sinceMillis: 0)
        controls.replace(with: ControlsSnapshot(globalIncident: incident, routeIncidents: ["reports": incident, "unknown-route": incident]))
        samples = Self.samples(exposition)
        #expect(samples[#"tollgate_incident_active{scope="global"}"#] == 1)
        #expect(samples[#"tollgate_incident_active{scope="reports"}"#] == 1)
        #expect(samples[#"tollgate_incident_active{scope="datasets"}"#] == 0)
        #expect(samples[#"tollgate_incident_active{scope="other"}"#] == 1)

        controls.replace(with: ControlsSnapshot())
        samples = Self.samples(exposition)
        #expect(samples.filter { $0.key.hasPrefix("tollgate_incident_active") }.values.allSatisfy { $0 == 0 })
    }

    /// The group commit's running totals become counters: each scrape adds what happened since the one before, and a
    /// scrape that read older totals than one already counted adds nothing (nor counts that stretch again later).
    @Test func theGroupCommitIsCountedWhenScraped() throws {
        let configuration = try Self.configuration()
        let totals = Mutex(CommitStatistics(commits: 3, writes: 10, busySeconds: 0.5, started: 10, waitSeconds: 0.25))
        let registry = PrometheusCollectorRegistry()
        let metrics = GatewayMetrics(factory: MetricsExposition.factory(recordingInto: registry), routes: configuration.routes,
                                     assets: configuration.assets,
                                     storeHealth: { StoreHealth(backend: "sqlite", commits: totals.withLock { $0 }) })
        let exposition = MetricsExposition(registry: registry, metrics: metrics)
        var samples = Self.samples(exposition)
        #expect(samples[#"tollgate_store_commits_total{backend="sqlite"}"#] == 3)
        #expect(samples[#"tollgate_store_committed_writes_total{backend="sqlite"}"#] == 10)
        #expect(samples[#"tollgate_store_busy_seconds_total{backend="sqlite"}"#] == 0.5)
        #expect(samples[#"tollgate_store_queue_wait_seconds_total{backend="sqlite"}"#] == 0.25)

        let older = totals.withLock { $0 }
        totals.withLock { $0 = CommitStatistics(commits: 5, writes: 30, busySeconds: 0.75, started: 30, waitSeconds: 1.25) }
        samples = Self.samples(exposition)
        #expect(samples[#"tollgate_store_commits_total{backend="sqlite"}"#] == 5)
        #expect(samples[#"tollgate_store_committed_writes_total{backend="sqlite"}"#] == 30)
        #expect(samples[#"tollgate_store_busy_seconds_total{backend="sqlite"}"#] == 0.75)
        #expect(samples[#"tollgate_store_queue_wait_seconds_total{backend="sqlite"}"#] == 1.25)

        // A scrape that raced with a later one and read the older totals.
        totals.withLock { $0 = older }
        samples = Self.samples(exposition)
        #expect(samples[#"tollgate_store_commits_total{backend="sqlite"}"#] == 5)
        totals.withLock { $0 = CommitStatistics(commits: 6, writes: 31, busySeconds: 1, started: 31, waitSeconds: 1.5) }
        samples = Self.samples(exposition)
        #expect(samples[#"tollgate_store_commits_total{backend="sqlite"}"#] == 6)
        #expect(samples[#"tollgate_store_committed_writes_total{backend="sqlite"}"#] == 31)
        #expect(samples[#"tollgate_store_busy_seconds_total{backend="sqlite"}"#] == 1)
    }

    @Test("the audit backlog and the events refused while the store refuses writes are scraped")
    func auditBacklogIsScraped() async throws {
        let (metrics, exposition) = Self.recorded(try Self.configuration())
        #expect(Self.samples(exposition)["tollgate_audit_backlog_events"] == 0)
        #expect(Self.samples(exposition)["tollgate_audit_events_refused_total"] == 0)
        let store = InMemoryStore()
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), capacity: 2, backlogLimit: 5, observer: metrics,
                                   logger: Logger(label: "tollgate.tests") { _ in SwiftLogNoOpLogHandler() })
        await store.fail(.append)
        for index in 0..<12 { await batcher.record(StoreConformance.event("tg_\(index)", at: Int64(index))) }
        await batcher.flush()
        var samples = Self.samples(exposition)
        #expect(samples["tollgate_audit_backlog_events"] == 5)
        #expect(samples["tollgate_audit_events_refused_total"] == 7)
        await store.recover()
        await batcher.flush()
        samples = Self.samples(exposition)
        #expect(samples["tollgate_audit_backlog_events"] == 0)
        #expect(samples["tollgate_audit_events_refused_total"] == 7)
    }

    @Test func facilitatorCallsAreTimedAndFailuresCounted() {
        let registry = PrometheusCollectorRegistry()
        let sink = FacilitatorCallMetrics(factory: MetricsExposition.factory(recordingInto: registry))
        sink.facilitatorCall(facilitator: "127.0.0.1:8404", operation: .verify, duration: .milliseconds(7), failed: false)
        sink.facilitatorCall(facilitator: "127.0.0.1:8404", operation: .verify, duration: .seconds(3), failed: true)
        let samples = Self.samples(registry.emitToString())
        let labels = #"facilitator="127.0.0.1:8404",operation="verify""#
        #expect(samples["tollgate_facilitator_request_duration_seconds_count{\(labels)}"] == 2)
        #expect(samples["tollgate_facilitator_request_duration_seconds_bucket{\(labels),le=\"0.005\"}"] == 0)
        #expect(samples["tollgate_facilitator_request_duration_seconds_bucket{\(labels),le=\"0.01\"}"] == 1)
        #expect(samples["tollgate_facilitator_request_duration_seconds_bucket{\(labels),le=\"5.0\"}"] == 2)
        #expect(samples["tollgate_facilitator_request_duration_seconds_bucket{\(labels),le=\"+Inf\"}"] == 2)
        #expect(samples["tollgate_facilitator_errors_total{\(labels)}"] == 1)
    }

    @Test func facilitatorLabelsNeverCarryCredentials() {
        #expect(FacilitatorPool.metricLabel("https://user:secret@facilitator.example.com/v2?key=abc") == "facilitator.example.com:443")
        #expect(FacilitatorPool.metricLabel("http://127.0.0.1:8404") == "127.0.0.1:8404")
        #expect(FacilitatorPool.metricLabel("http://facilitator.internal") == "facilitator.internal:80")
        #expect(FacilitatorPool.metricLabel("http://[::1]:8404/") == "[::1]:8404")
        #expect(FacilitatorPool.metricLabel("dev-facilitator") == "dev-facilitator")
        #expect(!FacilitatorPool.metricLabel("token:secret@weird name").contains("secret"))
    }

    /// Recorded through swift-metrics, exposed by swift-prometheus: every metric keeps its help text and type.
    @Test func theExpositionDescribesEveryMetric() throws {
        let (metrics, exposition) = Self.recorded(try Self.configuration(), controls: OperatorControls())
        metrics.countResponse(status: 200)
        metrics.observe([Self.event(.settle, .ok, flow: "tg_1", ["network": "eip155:84532", "asset": Self.usdc, "amount": "10000"])])
        let registry = exposition.registry
        FacilitatorCallMetrics(factory: MetricsExposition.factory(recordingInto: registry))
            .facilitatorCall(facilitator: "127.0.0.1:8404", operation: .settle, duration: .milliseconds(3), failed: true)
        let text = String(decoding: exposition.text(), as: UTF8.self)
        let types = ["tollgate_requests_total": "counter", "tollgate_revenue_total": "counter", "tollgate_circuit_breakers_open": "gauge",
                     "tollgate_incident_active": "gauge", "tollgate_facilitator_request_duration_seconds": "histogram",
                     "tollgate_facilitator_errors_total": "counter"]
        for (name, type) in types {
            #expect(text.contains("# TYPE \(name) \(type)\n"), "\(name)")
        }
        #expect(text.contains("# HELP tollgate_requests_total Responses of the gateway listener by status class (2xx, 4xx …).\n"))
        #expect(text.contains("# HELP tollgate_facilitator_request_duration_seconds Duration of calls to facilitators"))
        let samples = Self.samples(text)
        #expect(samples[#"tollgate_revenue_total{resource="datasets",network="eip155:84532",asset="usdc"}"#] == 0.01)
        #expect(samples[#"tollgate_facilitator_request_duration_seconds_bucket{facilitator="127.0.0.1:8404",operation="settle",le="0.005"}"#] == 1)
    }

    /// Each gateway records into the factory it is given, never into the process's `MetricsSystem`: two gateways
    /// in one process (the tests, a host running two) do not count each other's traffic.
    @Test func eachGatewayRecordsIntoItsOwnBackend() throws {
        let configuration = try Self.configuration()
        let (first, firstExposition) = Self.recorded(configuration)
        let (_, secondExposition) = Self.recorded(configuration)
        first.countResponse(status: 402)
        first.observe([Self.event(.proof, .received)])
        #expect(Self.samples(firstExposition)[#"tollgate_requests_total{status="4xx"}"#] == 1)
        #expect(Self.samples(firstExposition)[#"tollgate_proofs_received_total{resource="datasets"}"#] == 1)
        #expect(Self.samples(secondExposition)[#"tollgate_requests_total{status="4xx"}"#] == nil)
        #expect(Self.samples(secondExposition)[#"tollgate_proofs_received_total{resource="datasets"}"#] == 0)
    }

    // MARK: a live gateway

    @Test func aScriptedFlowIsScrapedThroughTheAdminListener() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await Self.withAdminStack(facilitator: router) { gatewayURL, adminURL, facilitatorLabel in
            let url = gatewayURL + "/datasets/prices"
            let first = try await Exchange.get(url)
            #expect(first.status == 402)
            let terms = try #require(first.terms)
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let now = Int64(Date().timeIntervalSince1970)
            let signature = HeaderCodec.encode(try payer.pay(terms, now: now))
            let began = ContinuousClock.now
            let paid = try await Exchange.get(url, [("PAYMENT-SIGNATURE", signature)])
            let paidSeconds = (ContinuousClock.now - began).inSeconds
            #expect(paid.status == 200)

            // Signed by one key, claiming to come from another.
            let other = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            var forged = try payer.pay(terms, now: now)
            forged.payload.authorization.from = other.address.checksummed
            let refused = try await Exchange.get(url, [("PAYMENT-SIGNATURE", HeaderCodec.encode(forged))])
            #expect(refused.status == 402)
            #expect(refused.terms?.error == Self.signatureInvalid)

            let limited = try await Exchange.get(url)
            #expect(limited.status == 429)
            #expect(try await facilitator.ledger.transferCount() == 1)

            let unauthorized = try await Exchange.get(adminURL + "/metrics")
            #expect(unauthorized.status == 401)
            #expect(!unauthorized.body.contains("tollgate_"))
            let wrong = try await Exchange.get(adminURL + "/metrics", [("Authorization", "Bearer not-the-token")])
            #expect(wrong.status == 401)

            // Unpaid-path events are batched: wait for the last one to be written.
            var scrape = try await Exchange.get(adminURL + "/metrics", [("Authorization", "Bearer \(Self.token)")])
            let deadline = ContinuousClock.now + .seconds(30)
            while Self.samples(scrape.body)[#"tollgate_rate_limited_total{class="unpaid"}"#] != 1, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                scrape = try await Exchange.get(adminURL + "/metrics", [("Authorization", "Bearer \(Self.token)")])
            }
            #expect(scrape.status == 200)
            #expect(scrape.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(scrape.body.contains("# HELP tollgate_settlements_total Payments settled, by resource and network.\n"))
            let samples = Self.samples(scrape.body)
            let facilitator = #"facilitator="\#(facilitatorLabel)""#
            let expected: [String: Double] = [
                #"tollgate_requests_total{status="2xx"}"#: 1,
                #"tollgate_requests_total{status="4xx"}"#: 3,
                #"tollgate_payment_required_total{resource="datasets",reason="payment_required"}"#: 1,
                #"tollgate_payment_required_total{resource="datasets",reason="invalid_exact_evm_payload_signature"}"#: 1,
                #"tollgate_proofs_received_total{resource="datasets"}"#: 2,
                #"tollgate_proofs_verified_total{resource="datasets"}"#: 1,
                #"tollgate_proofs_refused_total{resource="datasets",reason="invalid_exact_evm_payload_signature"}"#: 1,
                #"tollgate_settlements_total{resource="datasets",network="eip155:84532"}"#: 1,
                #"tollgate_revenue_total{resource="datasets",network="eip155:84532",asset="usdc"}"#: 0.01,
                #"tollgate_rate_limited_total{class="unpaid"}"#: 1,
                #"tollgate_rate_limited_total{class="paid"}"#: 0,
                #"tollgate_denials_total{stage="verify",reason="invalid_exact_evm_payload_signature"}"#: 1,
                #"tollgate_denials_total{stage="admit",reason="rate_limited_unpaid"}"#: 1,
                #"tollgate_audit_events_total{stage="offer",outcome="issued"}"#: 2,
                #"tollgate_audit_events_total{stage="proof",outcome="received"}"#: 2,
                #"tollgate_audit_events_total{stage="reserve",outcome="ok"}"#: 1,
                #"tollgate_audit_events_total{stage="facilitator_verify",outcome="ok"}"#: 1,
                #"tollgate_audit_events_total{stage="settle",outcome="ok"}"#: 1,
                #"tollgate_audit_events_total{stage="respond",outcome="ok"}"#: 1,
                "tollgate_facilitator_request_duration_seconds_count{\(facilitator),operation=\"verify\"}": 1,
                "tollgate_facilitator_request_duration_seconds_count{\(facilitator),operation=\"settle\"}": 1,
                "tollgate_circuit_breakers_open": 0,
                #"tollgate_incident_active{scope="global"}"#: 0,
            ]
            for (series, value) in expected {
                #expect(samples[series] == value, "\(series)")
            }
            #expect(!samples.keys.contains { $0.hasPrefix("tollgate_settlement_failures_total") })
            #expect(!samples.keys.contains { $0.hasPrefix("tollgate_facilitator_errors_total") })
            #expect((samples["tollgate_facilitator_request_duration_seconds_count{\(facilitator),operation=\"supported\"}"] ?? 0) >= 1)
            // What the gateway added to the one request that reached the facilitator (the forged proof never did): more
            // than nothing, less than the whole request as the client saw it (which includes /verify, the upstream and /settle).
            #expect(samples[#"tollgate_paid_request_overhead_seconds_count{resource="datasets"}"#] == 1)
            let overhead = try #require(samples[#"tollgate_paid_request_overhead_seconds_sum{resource="datasets"}"#])
            #expect(overhead > 0 && overhead < paidSeconds, "overhead \(overhead) s of \(paidSeconds) s")
            #expect(samples[#"tollgate_paid_request_overhead_seconds_bucket{resource="datasets",le="+Inf"}"#] == 1)
        }
    }

    /// `LiveStack` with the admin listener on, an unpaid budget of one request, and the gateway's own
    /// facilitators (so the pool's metrics see the calls).
    static func withAdminStack<Context: RequestContext>(
        facilitator: @escaping @Sendable () -> Router<Context>, _ body: @Sendable (String, String, String) async throws -> Void
    ) async throws where Context.Source == ApplicationRequestContextSource {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-metrics-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = try SecretResolver.keyRing([.init(id: "t1", origin: .environment("TEST_SECRET"))], environment: ["TEST_SECRET": LiveStack.secret])
        try await Listener.with(SampleUpstream.router(contract: ContractVerifier(keys: keys.contractKeys()))) { upstreamPort in
            try await Listener.with(facilitator()) { facilitatorPort in
                let yaml = LiveStack.yaml(upstream: upstreamPort, facilitator: facilitatorPort, directory: directory) + """

                    admin: {listen: "127.0.0.1:0", token: {env: TOLLGATE_ADMIN_TOKEN}}
                    limits: {unpaid: {rate_per_second: 0.001, burst: 1}}
                    """
                let (configuration, _) = try ConfigurationLoader.parse(yaml)
                let store = try SQLiteStore(path: configuration.sqlitePath)
                let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
                let (adminPorts, adminContinuation) = AsyncStream.makeStream(of: Int.self)
                let server = GatewayServer(configuration: configuration, keys: keys, store: store, logger: Listener.quiet,
                                           adminToken: Array(Self.token.utf8), onServerRunning: { continuation.yield($0) },
                                           onAdminRunning: { adminContinuation.yield($0) })
                let admin = try #require(server.adminApplication)
                let pool = server.facilitators
                let group = ServiceGroup(configuration: .init(
                    services: server.services.map { .init(service: $0) } + [.init(service: server.application), .init(service: admin)],
                    logger: Listener.quiet))
                try await Listener.running(group, ports: ports) { port in
                    var adminIterator = adminPorts.makeAsyncIterator()
                    let adminPort = try #require(await adminIterator.next())
                    try await LiveStack.waitUntilReady(pool)
                    try await body("http://127.0.0.1:\(port)", "http://127.0.0.1:\(adminPort)", "127.0.0.1:\(facilitatorPort)")
                }
            }
        }
    }
}
