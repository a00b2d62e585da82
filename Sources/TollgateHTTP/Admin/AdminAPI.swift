import HTTPTypes
import Hummingbird
import Logging
import TollgateCore

/// The operator's HTTP API: revocations, incident switches, spend. It runs on its own listener
/// (loopback by default), never on the gateway's, and every route needs `Authorization: Bearer <token>`.
///
/// Mutations are written to the store (with their audit event) and applied to `controls` at once, so
/// this instance enforces them immediately; other instances follow through their `ControlsRefresher`.
public enum AdminAPI {
    /// Names the person behind the shared token in the audit log (`admin:<value>`).
    public static let actorField = HTTPField.Name("X-Admin-Actor")!

    /// The largest request body accepted.
    static let maxBodyBytes = 16 * 1024

    public static func router(store: any ControlStore & TollgateStore, controls: OperatorControls, token: [UInt8],
                              policy: AdminPolicyView = AdminPolicyView(), logger: Logger) -> Router<BasicRequestContext> {
        let handlers = AdminHandlers(store: store, controls: controls, policy: policy, logger: logger)
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: AdminAuthMiddleware(credential: AdminCredential(token: token), logger: logger))
        router.get("/admin/status") { _, _ in await handlers.status() }
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
        return router
    }
}
