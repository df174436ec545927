/*
 * attest/attest.h - the whole public API of libattest in one include.
 * Link with `pkg-config --libs attest`.
 */
#ifndef ATTEST_ATTEST_H
#define ATTEST_ATTEST_H

#include "attest/common.h"
#include "attest/error.h"
#include "attest/log.h"
#include "attest/merkle.h"
#include "attest/note.h"
#include "attest/run.h"
#include "attest/safetensors.h"
#include "attest/digest.h"
#include "attest/verify.h"
#include "attest/anchor.h"
#include "attest/export.h"

#endif
