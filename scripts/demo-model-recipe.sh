#!/usr/bin/env bash
# The chain of pretrain-demo runs that made the shipped demo model (docs/demo-model.md, session 5).
#
#   scripts/demo-model-recipe.sh OUTDIR [SOFTPROMPT]
#
# Stages 1-2 ran on a lent H200 (64 contexts per step, ~10 min together); stages 3-7 on one core of a
# 2-core CPU (~70 min). Each stage starts from the one before (--init-from) and writes OUTDIR/<stage>;
# the model is OUTDIR/final. On CUDA the result is reproducible up to floating-point summation order,
# so a rerun gives a model of the same kind, not the same bytes. A stage already written is skipped.
set -euo pipefail

out=${1:?usage: scripts/demo-model-recipe.sh OUTDIR [SOFTPROMPT]}
softprompt=${2:-build/release/app/softprompt}
gpu=${SP_DEMO_RECIPE_DEVICE:-cuda} # stages 1-2; "cpu" works but takes many hours
mkdir -p "$out"

stage() { # name, then pretrain-demo flags
    local name=$1
    shift
    if [[ -f "$out/$name/model.safetensors" ]]; then
        echo "recipe: $name already there, skipped"
        return
    fi
    echo "recipe: $name: pretrain-demo $*"
    "$softprompt" pretrain-demo --out "$out/$name" --seed 1 --heads 8 "$@" >"$out/$name.log" 2>&1
    tail -n 1 "$out/$name.log"
}

# 1. From scratch, 8 heads per layer, 64 contexts per step; the GPU budget stopped it after step 1,362,
#    and its last checkpoint was step 1,200.
stage 1-pretrain --device "$gpu" --steps 1800 --stop-after 1200 --context-tokens-per-step 0 \
    --curriculum 0.5 --contexts-per-step 64 --eval-every 200
# 2. Full-length contexts only: five of the six facts at 100%; the code word stuck at its class prior.
stage 2-full-length --device "$gpu" --init-from "$out/1-pretrain" --steps 800 --context-tokens-per-step 0 \
    --contexts-per-step 64 --curriculum 0 --eval-every 200
# 3. Move the code words' embeddings apart, then ask only for the code word in short contexts: it is
#    found after ~300 steps (the head it takes had served colour).
stage 3-code --init-from "$out/2-full-length" --spread-values code --spread-factor 3 --steps 1500 \
    --stop-after 600 --lr 3e-3 --curriculum 0 --min-context 40 --max-context 150 --eval-every 100 \
    --query-attributes code
# 4. All facts at full length again: manager and colour are lost by now, the others come back.
stage 4-all --init-from "$out/3-code" --steps 800 --stop-after 400 --lr 1e-3 --curriculum 0 --eval-every 100 \
    --query-attributes code,code,city,colour,name,mascot,manager
# 5. Colour and manager weighted, short contexts: manager comes back, colour does not.
stage 5-manager --init-from "$out/4-all" --steps 600 --lr 2e-3 --curriculum 0 --min-context 40 \
    --max-context 400 --eval-every 100 \
    --query-attributes colour,colour,colour,manager,manager,manager,city,name,mascot,code,code
# 6. Colour's embeddings had drifted together as the code word's had: spread them, colour weighted.
stage 6-colour --init-from "$out/5-manager" --spread-values colour --spread-factor 1.6 --steps 800 \
    --stop-after 400 --lr 3e-3 --curriculum 0 --min-context 40 --max-context 150 --eval-every 100 \
    --query-attributes colour,colour,colour,colour,colour,colour,city,code,name,mascot,manager
# 7. All facts at full length and shorter (40-1,500 tokens), colour asked twice as often: the shipped
#    model, 100% exact match on 500 held-out contexts.
stage final --init-from "$out/6-colour" --steps 400 --lr 2e-3 --curriculum 0 --min-context 40 --eval-every 100 \
    --query-attributes colour,colour,city,code,name,mascot,manager
