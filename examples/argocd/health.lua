-- Argo CD health check for hookgate.io WebhookEndpoint and WebhookPolicy.
-- Follows the Ready/observedGeneration convention every Hookgate resource reports:
--   Progressing  the operator has not yet looked at this generation of the spec
--                (no status, status.observedGeneration or the Ready condition's observedGeneration
--                behind metadata.generation), or Ready is missing or Unknown
--   Degraded     Ready is False (the reason and message say what to fix)
--   Healthy      Ready is True for the current generation
-- Delivery health (the Healthy condition WebhookEndpoints carry, ADR 0024) is shown, not judged:
-- when Healthy is False the message says so ("deliveries failing: CircuitOpen: ..."), but the
-- resource stays Healthy. A receiver that is down is its owner's outage, not a broken deployment:
-- Degraded would fail syncs and rollouts of the app that sends to it, and flap with the receiver.
-- Runs in gopher-lua (Lua 5.1) with only the base, string and table libraries.
local hs = {}

local function behind(observed)
  return observed ~= nil and obj.metadata ~= nil and obj.metadata.generation ~= nil
    and observed < obj.metadata.generation
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Hookgate operator to report status"
  return hs
end
if status.observedGeneration == nil or behind(status.observedGeneration) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Hookgate operator to observe generation " .. tostring(obj.metadata.generation)
  return hs
end

local ready = nil
local delivery = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    elseif condition.type == "Healthy" then
      delivery = condition
    end
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

local detail = ready.message or ""
if ready.reason ~= nil and ready.reason ~= "" then
  detail = ready.reason .. ": " .. detail
end
if behind(ready.observedGeneration) then
  hs.status = "Progressing"
  hs.message = "Ready describes an older generation; waiting for the operator"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = detail
  if delivery ~= nil and delivery.status == "False" then
    hs.message = "deliveries failing: " .. (delivery.reason or "") .. ": " .. (delivery.message or "") .. " (" .. detail .. ")"
  end
elseif ready.status == "False" then
  hs.status = "Degraded"
  hs.message = detail
else
  hs.status = "Progressing"
  hs.message = detail
end
return hs
