"""An Agent Builder workflow exported as Agents SDK code, made servable as
docs/agent-builder.md says: a triage agent that hands billing questions to a billing
agent, a function tool, and an input guardrail (the export's guardrail node, as an Agents
SDK ``input_guardrail``). ``run_workflow`` is kept as exported; chatkit-backend serves
``triage_agent`` (``CHATKIT_AGENT=support_workflow:triage_agent``) or, per user,
``agent_for`` (``CHATKIT_AGENT=support_workflow:agent_for``).

The tests copy this file into a temporary folder and run ``chatkit-backend serve`` there.
"""

import re
from typing import Any

from agents import (
    Agent,
    GuardrailFunctionOutput,
    ModelSettings,
    RunConfig,
    RunContextWrapper,
    Runner,
    TResponseInputItem,
    function_tool,
    input_guardrail,
    trace,
)
from pydantic import BaseModel

CARD_NUMBER = re.compile(r"\b(?:\d[ -]?){13,16}\b")


# Tool definitions
@function_tool
def lookup_invoice(invoice_id: str) -> str:
    """Look up an invoice by its id."""
    return f"invoice {invoice_id}: 42.00 EUR, paid on 3 March"


# Guardrails definitions
@input_guardrail
async def no_card_numbers(
    ctx: RunContextWrapper[Any], agent: Agent[Any], input: str | list[TResponseInputItem]
) -> GuardrailFunctionOutput:
    """Refuse messages that carry a payment card number."""
    found = CARD_NUMBER.search(latest_user_text(input))
    return GuardrailFunctionOutput(
        output_info={"card_number": found is not None}, tripwire_triggered=found is not None
    )


billing_agent = Agent(
    name="Billing agent",
    instructions="You answer billing questions. Look invoices up before answering.",
    model="gpt-4.1",
    tools=[lookup_invoice],
    model_settings=ModelSettings(store=True),
)

triage_agent = Agent(
    name="Triage agent",
    instructions="You greet the customer and hand billing questions to the billing agent.",
    model="gpt-4.1-mini",
    handoffs=[billing_agent],
    input_guardrails=[no_card_numbers],
    model_settings=ModelSettings(store=True),
)


def agent_for(context: Any) -> Agent[Any]:
    """The triage agent, addressing the signed-in user by id (an agent factory)."""
    instructions = f"{triage_agent.instructions} The customer's id is {context.user_id}."
    return triage_agent.clone(instructions=instructions)


class WorkflowInput(BaseModel):
    input_as_text: str


# Main code entrypoint (as exported; chatkit-backend runs the agents itself)
async def run_workflow(workflow_input: WorkflowInput) -> dict[str, str]:
    with trace("Support"):
        workflow = workflow_input.model_dump()
        conversation_history: list[TResponseInputItem] = [
            {"role": "user", "content": [{"type": "input_text", "text": workflow["input_as_text"]}]}
        ]
        result = await Runner.run(
            triage_agent,
            input=[*conversation_history],
            run_config=RunConfig(trace_metadata={"__trace_source__": "agent-builder"}),
        )
        return {"output_text": result.final_output_as(str)}


def latest_user_text(input: str | list[TResponseInputItem]) -> str:
    """The text of the newest user message in a model input."""
    if isinstance(input, str):
        return input
    for item in reversed(input):
        if isinstance(item, dict) and item.get("role") == "user":
            content: Any = item.get("content")
            if isinstance(content, str):
                return content
            parts = content if isinstance(content, list) else []
            return " ".join(str(part.get("text", "")) for part in parts if isinstance(part, dict))
    return ""
