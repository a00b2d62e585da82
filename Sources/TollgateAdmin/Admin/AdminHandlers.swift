import Foundation
import HTTPTypes
import Hummingbird
import Logging
import TollgateCore

/// The admin API's route handlers. Each answers JSON; nothing thrown reaches Hummingbird (a store
/// failure is a 503, bad input a 400).
struct AdminHandlers: Sendable {
    let store: any ControlStore & TollgateStore
    let controls: OperatorControls
    var policy = AdminPolicyView()
    /// The store's health, shown by `status`; nil omits it.
    var storeHealth: (@Sendable () -> StoreHealth)?
    let logger: Logger

    /// What is in force, and whether the store answers: during an outage the answer is still 200, with the controls
    /// this instance enforces (a revocation is never lifted by an outage) and `store.reachable` false.
    func status() async -> Response {
        await guarded {
            do {
                let snapshot = try await store.loadControls()
                controls.replace(with: snapshot)
                return AdminJSON.response(AdminStatusView(snapshot, store: storeHealth?()))
            } catch let error as TollgateError where error.code == .storeUnavailable {
                guard let health = storeHealth?() else { throw error }
                return AdminJSON.response(AdminStatusView(controls.snapshot, store: health))
            }
        }
    }

    func revoke(_ request: Request) async -> Response {
        await guarded {
            let actor = try AdminInput.actor(request)
            let body = try await AdminJSON.decode(RevocationRequest.self, from: request)
            let kind = try AdminInput.kind(body.kind)
            let subject = try AdminInput.subject(body.subject, kind: kind)
            let reason = try AdminInput.reason(body.reason)
            try await store.revoke(kind: kind, subject: subject, reason: reason, actor: actor)
            await apply()
            logger.notice("revoked", metadata: ["tollgate.admin.kind": "\(kind.rawValue)", "tollgate.admin.subject": "\(subject)",
                                                "tollgate.admin.actor": "\(actor)"])
            return AdminJSON.response(RevocationView(kind: kind.rawValue, subject: kind.normalized(subject), reason: reason), status: .created)
        }
    }

    func unrevoke(_ request: Request, kind kindText: String?, subject subjectText: String?) async -> Response {
        await guarded {
            let actor = try AdminInput.actor(request)
            let kind = try AdminInput.kind(kindText ?? "")
            let text = try AdminInput.pathComponent(subjectText)
            // A payer that is not an address cannot have been revoked: like any other subject never revoked, 404.
            if kind == .payer, (try? AdminInput.subject(text, kind: .payer)) == nil, (try? AdminInput.subject(text, kind: .client)) != nil {
                throw AdminProblem.notFound("no revocation in force for payer \(text): not an address")
            }
            let subject = try AdminInput.subject(text, kind: kind)
            guard try await store.unrevoke(kind: kind, subject: subject, actor: actor) else {
                throw AdminProblem.notFound("no revocation in force for \(kind.rawValue) \(kind.normalized(subject))")
            }
            await apply()
            logger.notice("revocation lifted", metadata: ["tollgate.admin.kind": "\(kind.rawValue)", "tollgate.admin.subject": "\(subject)",
                                                          "tollgate.admin.actor": "\(actor)"])
            return AdminJSON.response(LiftedRevocationView(kind: kind.rawValue, subject: kind.normalized(subject), lifted: true))
        }
    }

    func startIncident(_ request: Request) async -> Response {
        await guarded {
            let actor = try AdminInput.actor(request)
            let body = try await AdminJSON.decode(IncidentRequest.self, from: request)
            let route = try body.route.map(AdminInput.route)
            let reason = try AdminInput.reason(body.reason)
            let before = try await store.loadControls()
            let current = if let route { before.routeIncidents[route] } else { before.globalIncident }
            if let current {
                throw AdminProblem(.conflict, "conflict", "incident \(current.id) is already on for \(route ?? "every paid route")")
            }
            let incident = try await store.startIncident(scope: route, reason: reason, actor: actor)
            await apply()
            logger.notice("incident on", metadata: ["tollgate.admin.incident": "\(incident.id)", "tollgate.admin.scope": "\(route ?? "global")",
                                                    "tollgate.admin.actor": "\(actor)"])
            return AdminJSON.response(IncidentView(scope: route, incident), status: .created)
        }
    }

    func endIncident(_ request: Request, route routeText: String?) async -> Response {
        await guarded {
            let actor = try AdminInput.actor(request)
            let route = try routeText.map { try AdminInput.route(AdminInput.pathComponent($0)) }
            guard let incident = try await store.endIncident(scope: route, actor: actor) else {
                throw AdminProblem.notFound("no incident is on for \(route ?? "every paid route (global)")")
            }
            await apply()
            logger.notice("incident off", metadata: ["tollgate.admin.incident": "\(incident.id)", "tollgate.admin.scope": "\(route ?? "global")",
                                                     "tollgate.admin.actor": "\(actor)"])
            return AdminJSON.response(IncidentView(scope: route, incident))
        }
    }

    /// Settled payments of a client and/or a payer per asset; with neither, of the whole ledger.
    func spend(_ request: Request) async -> Response {
        await guarded {
            let query = request.uri.queryParameters
            let client = try query.get("client").map { try AdminInput.subject($0, kind: .client) }
            let payer = try query.get("payer").map { try AdminInput.subject($0, kind: .payer) }
            // Neither: the whole ledger.
            return AdminJSON.response(try await store.spend(client: client, payer: payer))
        }
    }

    /// The limits in force; with `?client=`, `?organisation=` or `?payer=`, what that subject has used per bucket.
    func limits(_ request: Request) async -> Response {
        await guarded {
            let query = request.uri.queryParameters
            var view = policy
            var subjects: [String] = []
            if let client = try query.get("client").map({ try AdminInput.subject($0, kind: .client) }) { subjects.append("client:\(client)") }
            if let organisation = try query.get("organisation").map(AdminInput.organisation) { subjects.append("organisation:\(organisation)") }
            if let payer = try query.get("payer").map({ try AdminInput.subject($0, kind: .payer) }) { subjects.append("payer:\(payer.lowercased())") }
            if !subjects.isEmpty {
                var used: [String: [String: String]] = [:]
                for subject in subjects { used[subject] = try await store.spendTotals(subject: subject) }
                view.used = used
            }
            return AdminJSON.response(view)
        }
    }

    /// Makes a committed change effective on this instance now, without waiting for the refresher.
    private func apply() async {
        do {
            controls.replace(with: try await store.loadControls())
        } catch {
            // Committed but not yet applied here: the refresher applies it within its interval.
            logger.warning("admin change saved but not reloaded", metadata: ["tollgate.error": "\(error)"])
        }
    }

    private func guarded(_ body: () async throws -> Response) async -> Response {
        await AdminProblem.answer(logger: logger, body)
    }
}
