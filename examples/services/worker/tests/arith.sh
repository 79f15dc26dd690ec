#!/usr/bin/env bash
[ "$((6 * 7))" -eq 42 ]
