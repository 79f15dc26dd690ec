#!/usr/bin/env bash
s="gantry"; [ "${s^^}" = "GANTRY" ]
