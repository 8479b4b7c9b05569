# Turns the agent's page (web/*) into C: one web_assets[] entry per file, so `crmlog serve`
# serves it from memory with no files to install. Run by the build (see CMakeLists.txt):
#   cmake -DWEB_DIR=… -DOUT=… -P web_assets.cmake
file(GLOB files RELATIVE "${WEB_DIR}" "${WEB_DIR}/*")
list(SORT files)
set(arrays "")
set(entries "")
set(i 0)
foreach(f ${files})
  if(IS_DIRECTORY "${WEB_DIR}/${f}")
    continue()
  endif()
  if(f MATCHES "\\.html$")
    set(type "text/html; charset=utf-8")
  elseif(f MATCHES "\\.css$")
    set(type "text/css; charset=utf-8")
  elseif(f MATCHES "\\.js$")
    set(type "text/javascript; charset=utf-8")
  elseif(f MATCHES "\\.svg$")
    set(type "image/svg+xml")
  else()
    continue()
  endif()
  file(READ "${WEB_DIR}/${f}" hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR len "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)"
    "\\1\n" bytes "${bytes}")
  string(APPEND arrays "static const unsigned char asset${i}[] = {\n${bytes}0};\n")
  string(APPEND entries "    {\"/${f}\", \"${type}\", asset${i}, ${len}},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUT}.tmp"
  "/* Generated from web/ by cmake/web_assets.cmake: do not edit. */\n"
  "#include \"http/web.h\"\n\n${arrays}\n"
  "const struct web_asset web_assets[] = {\n${entries}};\n"
  "const size_t web_nassets = ${i};\n")
# Only a changed file touches the output, so an unchanged page rebuilds nothing.
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")
