import HTTPTypes
import Hummingbird
import Logging
import TollgateCore

/// The operator's HTTP API: revocations, incident switches, spend, refunds, usage, and its own OpenAPI
/// document (`GET /admin/openapi.json`, `Admin/openapi.json`). It runs on its own listener
/// (loopback by default), never on the gateway's, and every route needs `Authorization: Bearer <token>`.
///
/// Mutations are written to the store (with their audit event) and applied to `controls` at once, so
/// this instance enforces them immediately; other instances follow through their `ControlsRefresher`.
public enum AdminAPI {
    /// Names the person behind the shared token in the audit log (`admin:<value>`).
    public static let actorField = HTTPField.Name("X-Admin-Actor")!

    /// The largest request body accepted.
    static let maxBodyBytes = 16 * 1024

    /// What the admin API needs of a store: operator controls, the payments ledger, refunds and usage.
    public typealias AdminStore = ControlStore & TollgateStore & RefundLedger & UsageLedger

    /// Every route, always: the store type guarantees refunds and usage, so no route depends on a runtime cast.
    /// - Parameter metrics: what `GET /metrics` serves; without it, no `/metrics` route.
    /// - Parameter storeHealth: what `GET /admin/status` reports as `store` (and lets it answer during an outage).
    public static func router(store: any AdminStore, controls: OperatorControls, token: [UInt8],
                              policy: AdminPolicyView = AdminPolicyView(), metrics: MetricsExposition? = nil,
                              storeHealth: (@Sendable () -> StoreHealth)? = nil, logger: Logger) -> Router<BasicRequestContext> {
        let handlers = AdminHandlers(store: store, controls: controls, policy: policy, storeHealth: storeHealth, logger: logger)
        let billing = AdminBillingHandlers(ledger: store, logger: logger)
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: AdminAuthMiddleware(credential: AdminCredential(token: token), logger: logger))
        router.get("/admin/status") { _, _ in await handlers.status() }
        // Prometheus scrapes with `authorization: {credentials: <admin token>}`, like any other admin call.
        if let metrics { router.get("/metrics") { _, _ in metrics.response() } }
        router.post("/admin/revocations") { request, _ in await handlers.revoke(request) }
        router.delete("/admin/revocations/{kind}/{subject}") { request, context in
            await handlers.unrevoke(request, kind: context.parameters.get("kind"), subject: context.parameters.get("subject"))
        }
        router.post("/admin/incidents") { request, _ in await handlers.startIncident(request) }
        router.delete("/admin/incidents") { request, _ in await handlers.endIncident(request, route: nil) }
        router.delete("/admin/incidents/{route}") { request, context in
            await handlers.endIncident(request, route: context.parameters.get("route"))
        }
        router.get("/admin/spend") { request, _ in await handlers.spend(request) }
        router.get("/admin/limits") { request, _ in await handlers.limits(request) }
        router.post("/admin/refunds") { request, _ in await billing.refund(request) }
        router.get("/admin/refunds") { request, _ in await billing.refunds(request) }
        router.post("/admin/refunds/{id}/close") { request, context in await billing.closeRefund(request, id: context.parameters.get("id")) }
        router.get("/admin/usage") { request, _ in await billing.usage(request) }
        router.get("/admin/usage/balances") { request, _ in await billing.balances(request) }
        router.get("/admin/openapi.json") { _, _ in AdminOpenAPIDocument.response(AdminOpenAPIDocument.shipped, logger: logger) }
        // Last: it lists every route above to tell a wrong method (405) from a wrong path (404).
        router.add(middleware: AdminUnmatchedMiddleware(routes: router.routes))
        return router
    }
}
