# One block per core area. Each area is a static library made with sp_core_library() and appended
# to SP_CORE_AREA_LIBRARIES so that `spcore` links it.
set(SP_CORE_AREA_LIBRARIES "")
