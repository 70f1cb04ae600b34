{#- The instant a model answers for: var('as_of') when set (an ISO timestamp, so a test or a
    report can pin it), else now(). -#}
{% macro as_of() -%}
    {%- set pinned = var('as_of', '') -%}
    {%- if pinned -%}
        CAST('{{ pinned }}' AS TIMESTAMPTZ)
    {%- else -%}
        now()
    {%- endif -%}
{%- endmacro %}
