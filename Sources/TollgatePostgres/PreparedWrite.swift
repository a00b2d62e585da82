import Foundation
import PostgresNIO
import TollgateCore

/// A write statement PostgreSQL parses once per connection instead of at every call: postgres-nio prepares it by name the
/// first time a connection runs it, then sends only its parameters, and after a few runs PostgreSQL keeps one generic
/// plan for it. The paid path's writes run while the cluster-wide write lock is held, so parsing and planning them at
/// each call was lock time that every instance waited behind (on the benchmark machine 160 µs for `finish`'s statement,
/// more than it took to run). The text is fixed: an optional part is switched on and off by a boolean parameter, never
/// spliced in.
///
/// Named statements live in a server session: a pooler in front of PostgreSQL must keep them (session pooling, or
/// PgBouncer 1.21+ with `max_prepared_statements`), as docs/configuration.md (`storage.postgres`) says.
protocol PreparedWrite: PostgresPreparedStatement where Row == PostgresRow {
    /// The statement's text and its parameters' types, in the order `makeBindings` appends the values.
    static var text: PreparedText { get }
}

extension PreparedWrite {
    static var sql: String { text.sql }
    static var bindingDataTypes: [PostgresDataType] { text.types }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// An SQL text whose parameters are numbered as they are declared: `p(.text)` is the next `$n`, typed.
struct PreparedText: Sendable {
    let sql: String
    let types: [PostgresDataType]

    init(_ build: (inout Parameters) -> String) {
        var parameters = Parameters()
        sql = build(&parameters)
        types = parameters.types
    }

    struct Parameters {
        fileprivate(set) var types: [PostgresDataType] = []

        mutating func callAsFunction(_ type: PostgresDataType) -> String {
            types.append(type)
            return "$\(types.count)"
        }

        /// A proof's key: its four parameters and the condition selecting its row.
        mutating func key() -> Key {
            Key(network: self(.text), asset: self(.text), payer: self(.text), nonce: self(.text))
        }

        /// The answer kept for a proof, replacing one prepared before; written only when its first parameter is true.
        /// Binds: `PostgresBindings.append(response:ready:)`.
        mutating func responseUpsert(_ key: Key) -> String {
            let write = self(.bool), correlationId = self(.text), clientId = self(.text), request = self(.text), status = self(.int8)
            let headers = self(.text), body = self(.bytea), expiresAt = self(.int8), ready = self(.bool), identifier = self(.text)
            return """
                INSERT INTO paid_response (network, asset, payer, nonce, correlation_id, client_id, request, status, headers, body,
                                           expires_at, ready, payment_identifier)
                SELECT \(key.network), \(key.asset), \(key.payer), \(key.nonce), \(correlationId), \(clientId), \(request), \(status), \(headers),
                       \(body), \(expiresAt), \(ready), \(identifier) WHERE \(write)
                ON CONFLICT (network, asset, payer, nonce) DO UPDATE SET
                    correlation_id = excluded.correlation_id, client_id = excluded.client_id, request = excluded.request,
                    status = excluded.status, headers = excluded.headers, body = excluded.body, expires_at = excluded.expires_at,
                    ready = excluded.ready, payment_identifier = excluded.payment_identifier
                -- An answer kept ready for its owner's retry is never taken back by a later attempt's intent.
                WHERE NOT paid_response.ready OR excluded.ready
                """
        }

        /// The ledger row of a settled payment unless the authorization has one; written only when its first parameter
        /// is true. Binds: `PostgresBindings.append(payment:)`.
        mutating func paymentInsert() -> String {
            let write = self(.bool)
            let columns = ["correlation_id", "rail", "network", "asset", "payer", "payee", "amount", "nonce", "tx", "client_id", "resource", "unit"]
            var values = columns.map { _ in self(.text) }
            let (network, asset, payer, nonce) = (values[2], values[3], values[4], values[7])
            values += [self(.int8), self(.int8), self(.text)]
            return """
                INSERT INTO payment (\((columns + ["quantity", "settled_at", "body_sha256"]).joined(separator: ", ")))
                SELECT \(values.joined(separator: ", ")) WHERE \(write) AND NOT EXISTS (
                    SELECT 1 FROM payment WHERE network = \(network) AND asset = \(asset) AND payer = \(payer) AND nonce = \(nonce))
                """
        }

        /// A usage row, kept once per flow; written only when its first parameter is true. Binds:
        /// `PostgresBindings.append(usage:)`.
        mutating func usageInsert() -> String {
            let write = self(.bool)
            let values = [self(.text), self(.text), self(.text), self(.text), self(.text), self(.int8), self(.int8), self(.text), self(.text),
                          self(.text), self(.int8)]
            return """
                INSERT INTO usage_event (correlation_id, client_id, payer, resource, unit, quantity, paid_quantity, source, amount, asset, at_ms)
                SELECT \(values.joined(separator: ", ")) WHERE \(write) ON CONFLICT DO NOTHING
                """
        }
    }

    /// A proof's key as parameters.
    struct Key {
        let network, asset, payer, nonce: String

        /// `network = $a AND asset = $b AND payer = $c AND nonce = $d`
        var matches: String { "network = \(network) AND asset = \(asset) AND payer = \(payer) AND nonce = \(nonce)" }
    }
}

extension PostgresBindings {
    mutating func append(key: ProofKey) {
        append(key.network)
        append(key.asset)
        append(key.payer)
        append(key.nonce)
    }

    /// The parameters of `PreparedText.Parameters.responseUpsert`.
    mutating func append(response: StoredResponse?, ready: Bool) throws {
        append(response != nil)
        guard let response else { return appendNulls(9) }
        append(response.correlationId)
        append(response.clientId)
        append(response.request)
        append(response.status)
        append(response.headersJSON)
        try append(Data(response.body))
        append(response.expiresAt)
        append(ready)
        append(response.paymentIdentifier)
    }

    /// The parameters of `PreparedText.Parameters.paymentInsert`.
    mutating func append(payment: PaymentRecord?) {
        append(payment != nil)
        guard let payment else { return appendNulls(15) }
        for text in [payment.correlationId, payment.rail, payment.network, payment.asset, payment.payer, payment.payee, payment.amount,
                     payment.nonce, payment.transaction, payment.clientId, payment.resource, payment.unit] {
            append(text)
        }
        append(payment.quantity)
        append(payment.settledAtMillis)
        append(payment.bodySHA256)
    }

    /// The parameters of `PreparedText.Parameters.usageInsert`.
    mutating func append(usage: UsageEvent?) {
        append(usage != nil)
        guard let usage else { return appendNulls(11) }
        for text in [usage.correlationId, usage.clientId, usage.payer, usage.resource, usage.unit] { append(text) }
        append(usage.quantity)
        append(usage.paidQuantity)
        append(usage.source.rawValue)
        append(usage.amount)
        append(usage.asset)
        append(usage.atMillis)
    }

    private mutating func appendNulls(_ count: Int) {
        for _ in 0..<count { appendNull() }
    }
}
