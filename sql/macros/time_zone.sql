{#- An IANA time-zone column made safe for timezone(): an unknown or missing name is 'UTC'
    (DuckDB's ICU would fail the whole model on one bad name). -#}
{% macro safe_time_zone(column) -%}
    CASE WHEN {{ column }} IN (SELECT name FROM pg_timezone_names()) THEN {{ column }} ELSE 'UTC' END
{%- endmacro %}
