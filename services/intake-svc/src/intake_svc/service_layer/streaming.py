"""Streaming ingest (DESIGN 5.3): leads that lead sources send on `crm.intake.submissions.v1`.

Each message (`LeadSubmitted`) is one lead of one channel, taken exactly like `POST /v1/leads`
with that channel's key: the same validation, custom-field check, stamps and duplicate policy
(in its `ChannelRef`), and a submission as its result, readable at `GET /v1/submissions/{id}`
where `id` is the envelope's id. Set-based: a partition's run of messages costs one key lookup
per distinct channel key (cached, as at the HTTP edge), one insert of all their submissions and
one outbox statement for all their `LeadAccepted` events, in the consumer's transaction.

- A lead that fails validation is a submission in state `rejected` with its field errors (not
  a dead letter): the source reads why at its status URL.
- A channel key that opens no channel that may stream (unknown, expired, disabled, or not an
  API channel), or an envelope whose workspace is not the channel's, is a `PoisonMessage`:
  the message is dead-lettered; the reason never quotes the key.
- A repeat of the envelope (a redelivery, a source sending it twice) is a no-op: the inbox
  says so first, the submission's primary key otherwise.
- `idempotency_key` is the HTTP `Idempotency-Key`: a repeat of the channel's key with the same
  lead writes nothing (the first submission is the answer); with another lead it is a
  submission in state `rejected` naming `idempotency_key`.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.events import LeadSubmitted
from crm_contracts.fields import FieldDefinition
from crm_contracts.leads import ChannelKind
from crm_runtime.consumer import PoisonMessage, same_workspace
from crm_runtime.events import Mint
from crm_runtime.outbox import Outbox
from crm_runtime.registry import Message, Registry
from intake_svc.adapters.repository import SubmissionRepository
from intake_svc.domain.capture import LeadRejected
from intake_svc.domain.channels import Channel, ChannelRefused
from intake_svc.service_layer.channels import Channels
from intake_svc.service_layer.handlers import Definitions, StagedLead, prepare_lead, rejected_row, write_staged

# The kinds of channel whose key may send leads on the topic: machine-to-machine sources.
STREAMING_KINDS = frozenset({ChannelKind.API})
KEY_REUSED = "already used with another lead; use a new key for a new lead"


class StreamedLeads:
    def __init__(self, channels: Channels, outbox: Outbox, definitions: Definitions | None = None) -> None:
        self._channels = channels
        self._outbox = outbox
        self._definitions = definitions

    def registry(self) -> Registry:
        return Registry().on_run(LeadSubmitted, self.on_submitted)

    async def _channel(self, key: str) -> Channel:
        try:
            return await self._channels.by_key(key, STREAMING_KINDS)
        except ChannelRefused as exc:
            # The title only ("Invalid channel key" / "Channel is disabled"): never the key.
            raise PoisonMessage(f"channel refused: {exc.title}") from None

    async def on_submitted(self, session: AsyncSession, messages: Sequence[Message[LeadSubmitted]]) -> None:
        channels: dict[str, Channel] = {}
        for message in messages:
            key = message.payload.channel_key
            if key not in channels:
                channels[key] = await self._channel(key)
            same_workspace(message.event, channels[key].workspace)
        known: dict[str, list[FieldDefinition] | None] = {}
        if self._definitions is not None:
            for workspace in {c.workspace for c in channels.values()}:
                if any(m.payload.lead.fields for m in messages if channels[m.payload.channel_key].workspace == workspace):
                    known[workspace] = await self._definitions(workspace)
        refs = {key: channel.ref() for key, channel in channels.items()}
        mint = Mint(len(messages))  # the submission ids are the envelopes'; an id per event
        staged: list[StagedLead] = []
        sent: list[Message[LeadSubmitted]] = []  # the message of each staged lead
        rejected: list[dict[str, Any]] = []
        for message in messages:
            channel = channels[message.payload.channel_key]
            try:
                staged.append(
                    prepare_lead(
                        refs[message.payload.channel_key],
                        channel.workspace,
                        message.payload.lead,
                        known.get(channel.workspace),
                        idempotency_key=message.payload.idempotency_key,
                        submission_id=message.event.id,
                        mint=mint,
                    )
                )
                sent.append(message)
            except LeadRejected as exc:
                ref = refs[message.payload.channel_key]
                rejected.append(rejected_row(ref, channel.workspace, message.event.id, message.payload.lead, exc.errors))
        results = await write_staged(session, self._outbox, staged)
        for lead, message, (first_id, first_print) in zip(staged, sent, results, strict=True):
            # A repeated idempotency key with another lead: this message's own result is a rejection.
            if first_id != lead.submission_id and first_print is not None and first_print != lead.row["idempotency_fingerprint"]:
                channel = channels[message.payload.channel_key]
                errors = [("idempotency_key", KEY_REUSED)]
                ref = refs[message.payload.channel_key]
                rejected.append(rejected_row(ref, channel.workspace, lead.submission_id, message.payload.lead, errors))
        await SubmissionRepository(session).add_many_new(rejected)
