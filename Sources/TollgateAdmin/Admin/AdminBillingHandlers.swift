import HTTPTypes
import Hummingbird
import Logging
import TollgateCore

/// The admin API's refund and usage routes. Each answers JSON; a refused refund (`TollgateError.isRefundRefusal`) is a 404, 409 or 400,
/// a store failure a 503.
struct AdminBillingHandlers: Sendable {
    let ledger: any RefundLedger & UsageLedger
    let logger: Logger
    /// Unix milliseconds now.
    var now: @Sendable () -> Int64 = { SystemClock().nowMillis() }

    /// `POST /admin/refunds`: gives back (part of) what one flow paid or spent.
    func refund(_ request: Request) async -> Response {
        await AdminProblem.answer(logger: logger) {
            let actor = try AdminInput.actor(request)
            let body = try await AdminJSON.decode(RefundRequestBody.self, from: request)
            let correlationId = try AdminInput.correlationId(body.correlationId)
            let amount = try body.amount.map(AdminInput.refundAmount)
            let reason = try AdminInput.refundReason(body.reason)
            // The same refund sent again with its key (a retry after a timeout) gets the one recorded, never a second.
            let key = request.headers[values: .idempotencyKey].first
            let refund = try await ledger.refund(RefundRequest(correlationId: correlationId, amount: amount, reason: reason, actor: actor,
                                                               requestKey: key), nowMillis: now())
            logger.notice("refund recorded", metadata: ["tollgate.correlation_id": "\(correlationId)", "tollgate.refund.id": "\(refund.id)",
                                                        "tollgate.refund.state": "\(refund.state.rawValue)", "tollgate.admin.actor": "\(actor)"])
            return AdminJSON.response(refund, status: .created)
        }
    }

    /// `GET /admin/refunds[?state=&correlationId=&limit=]`: newest first.
    func refunds(_ request: Request) async -> Response {
        await AdminProblem.answer(logger: logger) {
            let query = request.uri.queryParameters
            let state = try query.get("state").map(AdminInput.refundState)
            let correlationId = try query.get("correlationId").map(AdminInput.correlationId)
            let limit = try AdminInput.limit(query.get("limit"))
            let refunds = try await ledger.refunds(state: state, correlationId: correlationId, limit: limit)
            return AdminJSON.response(RefundListView(refunds: refunds))
        }
    }

    /// `POST /admin/refunds/{id}/close`: records the transaction that paid a `pending_payout` refund out.
    func closeRefund(_ request: Request, id idText: String?) async -> Response {
        await AdminProblem.answer(logger: logger) {
            let actor = try AdminInput.actor(request)
            let id = try AdminInput.refundId(AdminInput.pathComponent(idText))
            let body = try await AdminJSON.decode(RefundCloseBody.self, from: request)
            let transaction = try AdminInput.payoutTransaction(body.payoutTransaction)
            let refund = try await ledger.closeRefund(id: id, payoutTransaction: transaction, batch: body.batch ?? false, actor: actor,
                                                     nowMillis: now())
            logger.notice("refund paid out", metadata: ["tollgate.refund.id": "\(id)", "tollgate.transaction": "\(refund.payoutTransaction ?? transaction)",
                                                        "tollgate.admin.actor": "\(actor)"])
            return AdminJSON.response(refund)
        }
    }

    /// `GET /admin/usage[?client=&from=&to=]`: per resource and unit over `[from, to)`, by default the current UTC month.
    func usage(_ request: Request) async -> Response {
        await AdminProblem.answer(logger: logger) {
            let query = request.uri.queryParameters
            let client = try query.get("client").map { try AdminInput.subject($0, kind: .client) }
            let month = RFC3339.month(containing: now())
            let from = try query.get("from").map { try AdminInput.instant($0, name: "from") } ?? month.start
            let to = try query.get("to").map { try AdminInput.instant($0, name: "to") } ?? month.end
            // An empty or reversed period holds nothing.
            let summaries = from < to ? try await ledger.usage(clientId: client, fromMillis: from, toMillis: to) : []
            return AdminJSON.response(UsageView(client: client, from: RFC3339.format(millis: from), to: RFC3339.format(millis: to),
                                                usage: summaries))
        }
    }

    /// `GET /admin/usage/balances?client=`: the units left in each package balance of a client.
    func balances(_ request: Request) async -> Response {
        await AdminProblem.answer(logger: logger) {
            guard let text = request.uri.queryParameters.get("client") else { throw AdminProblem.badRequest("name a client (?client=ID)") }
            let client = try AdminInput.subject(text, kind: .client)
            return AdminJSON.response(BalancesView(client: client, balances: try await ledger.packageBalances(clientId: client)))
        }
    }
}

extension HTTPField.Name {
    /// The admin API's idempotency key of a refund (`POST /admin/refunds`).
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
